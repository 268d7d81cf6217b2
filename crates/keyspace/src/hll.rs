//! HyperLogLog over strings, in Redis's own encoding: PFADD, PFCOUNT, PFMERGE.
