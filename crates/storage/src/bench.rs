//! Throughput measurements (placeholder; filled in below).
