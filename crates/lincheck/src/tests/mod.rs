//! Whole-checker tests: hand-written classic histories and randomized histories.

mod classic;
mod random;

use crate::kv::{KvInput, KvOutput};
use crate::Operation;

type KvOperation = Operation<KvInput, KvOutput>;

/// An operation that returned `output` at `ret`.
fn done(client: u64, input: KvInput, call: u64, ret: u64, output: KvOutput) -> KvOperation {
    Operation {
        client,
        input,
        call,
        ret: Some(ret),
        output: Some(output),
    }
}

/// An operation that never returned.
fn pending(client: u64, input: KvInput, call: u64) -> KvOperation {
    Operation {
        client,
        input,
        call,
        ret: None,
        output: None,
    }
}

fn get(client: u64, call: u64, ret: u64, seen: Option<u64>) -> KvOperation {
    done(client, KvInput::Get, call, ret, KvOutput::Value(seen))
}

fn put(client: u64, call: u64, ret: u64, value: u64) -> KvOperation {
    done(client, KvInput::Put(value), call, ret, KvOutput::Ok)
}

fn delete(client: u64, call: u64, ret: u64) -> KvOperation {
    done(client, KvInput::Delete, call, ret, KvOutput::Ok)
}

fn cas(
    client: u64,
    call: u64,
    ret: u64,
    expected: Option<u64>,
    new: u64,
    swapped: bool,
) -> KvOperation {
    done(
        client,
        KvInput::Cas { expected, new },
        call,
        ret,
        KvOutput::Swapped(swapped),
    )
}
