//! Decoding the Gateway load benchmark's AdmissionReview (3.7 KB, a Deployment) with each
//! decoder: what one request's `object` costs before `decide` reads it. mimalloc, as in the
//! `ork` binary; every figure includes dropping what was built.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        black_box(f());
    }
    let n = 200_000;
    let start = Instant::now();
    let mut ok = true;
    for _ in 0..n {
        ok &= black_box(f());
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!(
        "| {name} | {us:.2} |{}",
        if ok { "" } else { " (decode failed)" }
    );
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../crates/ork-loadgen/fixtures/deployment-review.json"
    );
    let Ok(body) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        std::process::exit(1);
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        eprintln!("{path}: not UTF-8");
        std::process::exit(1);
    };
    println!(
        "| decoder ({} bytes) | µs per review |\n|---|---|",
        body.len()
    );
    time("serde_json, skipped (`IgnoredAny`): parsing alone", || {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    });
    time("serde_json `Value` (what `decide` reads today)", || {
        serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
    });
    time(
        "serde_json_borrow `Value` (serde_json's parser, borrowed strings)",
        || serde_json::from_str::<serde_json_borrow::Value>(text).is_ok_and(|v| v.is_object()),
    );
    time(
        "simd-json borrowed value (with the copy it parses in place)",
        || {
            let mut b = body.clone();
            simd_json::to_borrowed_value(&mut b).is_ok()
        },
    );
    time("simd-json tape (with the copy)", || {
        let mut b = body.clone();
        simd_json::to_tape(&mut b).is_ok()
    });
    time("simd-json into serde_json `Value` (with the copy)", || {
        let mut b = body.clone();
        simd_json::serde::from_slice::<serde_json::Value>(&mut b).is_ok()
    });
    time("sonic-rs `Value`", || {
        sonic_rs::from_slice::<sonic_rs::Value>(&body).is_ok()
    });
    time("sonic-rs into serde_json `Value`", || {
        sonic_rs::from_slice::<serde_json::Value>(&body).is_ok()
    });
}
