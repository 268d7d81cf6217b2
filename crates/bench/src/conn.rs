//! One client connection: a socket, a reusable read buffer, and the optional ninesdb session.

use crate::resp::{self, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

pub struct Conn {
    pub stream: TcpStream,
    pub address: String,
    read_buf: Vec<u8>,
    /// Bytes of `read_buf` already parsed; compacted lazily to avoid a memmove per reply.
    read_pos: usize,
}

/// Connects with an error that says what to check.
pub async fn connect(address: &str) -> Result<Conn, String> {
    let stream = TcpStream::connect(address).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            " - is the server running?"
        } else {
            ""
        };
        format!("cannot connect to {address}: {e}{hint}")
    })?;
    // Latency matters more than packet count for a benchmark client.
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set TCP_NODELAY on {address}: {e}"))?;
    Ok(Conn {
        stream,
        address: address.to_owned(),
        read_buf: Vec::with_capacity(64 * 1024),
        read_pos: 0,
    })
}

impl Conn {
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("write to {}: {e}", self.address))
    }

    /// The next reply if one is already buffered (no I/O).
    pub fn try_reply(&mut self) -> Result<Option<Reply>, String> {
        self.try_parse(resp::parse)
    }

    /// The next buffered reply as `parse` decodes it (no I/O).
    pub fn try_parse<T>(&mut self, parse: resp::Parser<T>) -> Result<Option<T>, String> {
        match parse(&self.read_buf[self.read_pos..])? {
            Some((reply, used)) => {
                self.read_pos += used;
                if self.read_pos == self.read_buf.len() {
                    self.read_buf.clear();
                    self.read_pos = 0;
                }
                Ok(Some(reply))
            }
            None => Ok(None),
        }
    }

    fn make_room(&mut self) {
        if self.read_pos > 0 {
            self.read_buf.drain(..self.read_pos);
            self.read_pos = 0;
        }
        self.read_buf.reserve(16 * 1024);
    }

    /// Reads more bytes from the socket; errors on EOF.
    pub async fn fill(&mut self) -> Result<(), String> {
        self.make_room();
        match self.stream.read_buf(&mut self.read_buf).await {
            Ok(0) => Err(format!("{} closed the connection", self.address)),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read from {}: {e}", self.address)),
        }
    }

    /// Reads what the socket has without waiting (after `poll_read_ready` said it is readable);
    /// errors on EOF.
    pub fn try_fill(&mut self) -> Result<(), String> {
        self.make_room();
        match self.stream.try_read_buf(&mut self.read_buf) {
            Ok(0) => Err(format!("{} closed the connection", self.address)),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(format!("read from {}: {e}", self.address)),
        }
    }

    /// Waits for the next reply until `deadline`; `Ok(None)` means the deadline passed.
    pub async fn reply_before(&mut self, deadline: Instant) -> Result<Option<Reply>, String> {
        loop {
            if let Some(reply) = self.try_reply()? {
                return Ok(Some(reply));
            }
            match timeout_at(deadline, self.fill()).await {
                Ok(result) => result?,
                Err(_) => return Ok(None),
            }
        }
    }

    /// `NINESDB SESSION`: returns the session id the server assigned.
    pub async fn open_session(&mut self, deadline: Instant) -> Result<u64, String> {
        let mut buf = Vec::new();
        resp::push_command(&mut buf, &[b"NINESDB", b"SESSION"]);
        self.send(&buf).await?;
        match self.reply_before(deadline).await? {
            Some(Reply::Integer(id)) if id >= 0 => Ok(id as u64),
            Some(Reply::Error(e)) => Err(format!("NINESDB SESSION on {}: {e}", self.address)),
            other => Err(format!(
                "NINESDB SESSION on {}: unexpected reply {other:?}",
                self.address
            )),
        }
    }
}

/// The first word of an error reply, used to group errors ("ERR", "MOVED", "TRYAGAIN").
pub fn error_kind(error: &str) -> String {
    error
        .split_whitespace()
        .next()
        .unwrap_or("(empty)")
        .to_owned()
}
