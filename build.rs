//! Build script: compiles the C helpers in `csrc/` (INCRBYFLOAT's `long double` arithmetic, which Rust
//! cannot express) into a static library linked into ferredis.

fn main() {
    println!("cargo:rerun-if-changed=csrc/longdouble.c");
    cc::Build::new()
        .file("csrc/longdouble.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("ferredis_csrc");
}
