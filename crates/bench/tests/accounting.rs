//! Does the harness report what the server really did? Fake RESP servers on loopback with a
//! known delay or known failures; bounds are generous multiples of the injected delay.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

const DELAY: Duration = Duration::from_millis(20);

/// Starts a fake server on an ephemeral loopback port. Every command waits for one global lock
/// (so commands are served one at a time across all connections), sleeps `delay`, then gets
/// "+OK", or "-ERR boom" when it is a multiple of `fail_every`.
fn fake_server(delay: Duration, fail_every: Option<u64>) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender
                .send(listener.local_addr().unwrap().to_string())
                .unwrap();
            let serial = Arc::new(Mutex::new(()));
            let count = Arc::new(AtomicU64::new(0));
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(
                    stream,
                    serial.clone(),
                    count.clone(),
                    delay,
                    fail_every,
                ));
            }
        });
    });
    receiver.recv().unwrap()
}

async fn serve(
    mut stream: TcpStream,
    serial: Arc<Mutex<()>>,
    count: Arc<AtomicU64>,
    delay: Duration,
    fail_every: Option<u64>,
) {
    let mut buf = Vec::new();
    loop {
        while let Ok(Some((_, used))) = bench::resp::parse(&buf) {
            buf.drain(..used);
            let _turn = serial.lock().await;
            tokio::time::sleep(delay).await;
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            let reply: &[u8] = if fail_every.is_some_and(|k| n.rem_euclid(k) == 0) {
                b"-ERR boom\r\n"
            } else {
                b"+OK\r\n"
            };
            if stream.write_all(reply).await.is_err() {
                return;
            }
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn args(address: &str, extra: &[&str]) -> bench::BenchArgs {
    let target = format!("resp://{address}");
    let mut argv = vec!["bench", "--target", &target, "--warmup-seconds", "0"];
    argv.extend_from_slice(extra);
    bench::parse_args(argv).unwrap()
}

#[test]
fn open_loop_reports_queueing_delay() {
    // The server does 50/s; we ask for 200/s: requests queue, and the wait must show.
    let address = fake_server(DELAY, None);
    let report = bench::run_collect(&args(
        &address,
        &["--connections", "2", "--rate", "200", "--seconds", "2"],
    ))
    .unwrap();
    eprintln!("{}", report.table());
    let d = DELAY.as_micros() as u64;
    assert!(report.ops > 20, "only {} ops", report.ops);
    assert!(
        report.p99_us > 5 * d,
        "p99 {} us hides the queueing behind a {d} us server",
        report.p99_us
    );
    assert!(
        report.ops_per_sec < 80.0,
        "{} ops/s from a 50/s server",
        report.ops_per_sec
    );
}

#[test]
fn closed_loop_single_connection_sees_the_service_time() {
    let address = fake_server(DELAY, None);
    let report =
        bench::run_collect(&args(&address, &["--connections", "1", "--seconds", "1"])).unwrap();
    eprintln!("{}", report.table());
    let d = DELAY.as_micros() as u64;
    assert!(
        report.p50_us >= d && report.p50_us <= 3 * d,
        "p50 {} us for a {d} us server",
        report.p50_us
    );
    assert!(
        report.ops > 10 && report.ops <= 55,
        "{} ops in 1 s from a 50/s server",
        report.ops
    );
    assert_eq!(report.error_total(), 0);
}

#[test]
fn closed_loop_counts_errors_by_first_word() {
    let address = fake_server(Duration::from_millis(1), Some(10));
    let report = bench::run_collect(&args(
        &address,
        &["--connections", "4", "--pipeline", "4", "--seconds", "1"],
    ))
    .unwrap();
    eprintln!("{}", report.table());
    let errors = report.errors.get("ERR").copied().unwrap_or(0);
    assert!(errors > 0, "no ERR counted: {:?}", report.errors);
    // One in ten fails: errors are about a ninth of the successes (loose bounds).
    assert!(
        errors * 5 < report.ops && errors * 20 > report.ops,
        "{errors} errors vs {} ops",
        report.ops
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
}

#[test]
fn refused_connection_says_what_to_check() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let error = bench::run_collect(&args(&free, &["--seconds", "1"])).unwrap_err();
    assert!(
        error.contains(&format!("cannot connect to {free}"))
            && error.contains("is the server running?"),
        "{error}"
    );
}

#[test]
fn targets_and_bad_flags() {
    assert_eq!(
        bench::parse_targets("resp://a:1,b:2").unwrap(),
        vec!["a:1", "b:2"]
    );
    assert!(bench::parse_targets("resp://nohost").is_err());
    let bad = args("127.0.0.1:1", &["--connections", "0"]);
    assert!(bench::run_collect(&bad)
        .unwrap_err()
        .contains("--connections"));
}

/// A server that answers every command with `-MOVED 0 <to>`.
fn redirecting_server(to: String) -> String {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender
                .send(listener.local_addr().unwrap().to_string())
                .unwrap();
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let reply = format!("-MOVED 0 {to}\r\n");
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while matches!(stream.read_buf(&mut buf).await, Ok(n) if n > 0) {
                        while let Ok(Some((_, used))) = bench::resp::parse(&buf) {
                            buf.drain(..used);
                            let _ = stream.write_all(reply.as_bytes()).await;
                        }
                    }
                });
            }
        });
    });
    receiver.recv().unwrap()
}

#[test]
fn moved_replies_send_the_connection_to_the_new_address() {
    let leader = fake_server(Duration::from_millis(1), None);
    let follower = redirecting_server(leader);
    let report =
        bench::run_collect(&args(&follower, &["--connections", "3", "--seconds", "1"])).unwrap();
    // Each connection is redirected once, then every command succeeds at the leader.
    assert!(
        report.errors.get("MOVED").copied().unwrap_or(0) <= 3,
        "{:?}",
        report.errors
    );
    assert!(
        report.ops > 50,
        "only {} ops after the redirect",
        report.ops
    );
}
