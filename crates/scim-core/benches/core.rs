//! Benchmarks for the hot paths of scim-core (filled by the filter and PATCH work).
#![allow(missing_docs)]
use criterion::{Criterion, criterion_group, criterion_main};

fn sid(c: &mut Criterion) {
    c.bench_function("sid/parse", |b| {
        b.iter(|| {
            scim_core::sid::UserSid::parse(std::hint::black_box(
                "US0123456789abcdef0123456789abcdef",
            ))
        })
    });
}

criterion_group!(benches, sid);
criterion_main!(benches);
