//! Compiles programs/charter.bpf.c with clang into OUT_DIR/charter.bpf.o.
//!
//! A missing clang, missing headers or a failed compilation never fails the build: the
//! script writes an empty object and records why in X0_BPF_BUILD_NOTE, and the library
//! then reports the kernel enforcer as unavailable with that reason.
//!
//! CI runs clippy before scripts/setup installs clang, so a missing piece must make the
//! next build rerun this script. Naming the missing file in rerun-if-changed is not
//! enough: cargo reruns while the file is absent, but once apt installs it the file
//! carries the package's (old) mtime and cargo calls the script fresh. So the script
//! names the *directory* the file will appear in (/usr/bin, /usr/include): adding an
//! entry changes the directory's mtime, and cargo scans directories for changes.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE: &str = "programs/charter.bpf.c";
/// Where Debian's clang package puts the compiler: watched when none is found.
const CLANG_DIR: &str = "/usr/bin";
/// From Debian's libbpf-dev, and the directory watched when it is missing.
const BPF_HELPERS: &str = "/usr/include/bpf/bpf_helpers.h";
const INCLUDE_DIR: &str = "/usr/include";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out_dir.join("charter.bpf.o");
    match compile(&object) {
        Ok(()) => println!("cargo:rustc-env=X0_BPF_BUILD_NOTE="),
        Err(note) => {
            // An empty object is the library's sign that the programs are not built.
            std::fs::write(&object, b"").expect("write the empty object into OUT_DIR");
            let note = note.replace(['\n', '\r'], " ");
            println!("cargo:warning=eBPF programs not built: {note}");
            println!("cargo:rustc-env=X0_BPF_BUILD_NOTE={note}");
        }
    }
}

fn compile(object: &Path) -> Result<(), String> {
    let clang = find_clang()?;
    if !Path::new(BPF_HELPERS).exists() {
        println!("cargo:rerun-if-changed={INCLUDE_DIR}");
        return Err(format!(
            "{BPF_HELPERS} is missing; install libbpf-dev (scripts/setup) and rebuild"
        ));
    }
    let multiarch = multiarch();
    let output = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-target", "bpf"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-c")
        .arg(SOURCE)
        .arg("-o")
        .arg(object)
        .output()
        .map_err(|error| format!("running {} failed: {error}", clang.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first_error = stderr
            .lines()
            .find(|line| line.contains("error"))
            .unwrap_or_else(|| stderr.lines().next().unwrap_or("no output"));
        return Err(format!(
            "{} failed to compile {SOURCE} ({}): {first_error}",
            clang.display(),
            output.status
        ));
    }
    Ok(())
}

/// The compiler: $CLANG if set, else `clang` on PATH, else an error that makes cargo
/// rerun this script once Debian's clang appears in /usr/bin.
fn find_clang() -> Result<PathBuf, String> {
    if let Some(clang) = env::var_os("CLANG") {
        let clang = PathBuf::from(clang);
        if clang.is_file() {
            return Ok(clang);
        }
        println!("cargo:rerun-if-changed={}", clang.display());
        return Err(format!(
            "CLANG={} is not a file; point CLANG at clang or unset it",
            clang.display()
        ));
    }
    let on_path = env::var_os("PATH").and_then(|path| {
        env::split_paths(&path)
            .map(|dir| dir.join("clang"))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(clang) => Ok(clang),
        None => {
            println!("cargo:rerun-if-changed={CLANG_DIR}");
            Err(
                "clang is not installed; install clang and libbpf-dev (scripts/setup) and rebuild"
                    .to_string(),
            )
        }
    }
}

/// Debian's multiarch include directory, for asm/types.h.
fn multiarch() -> String {
    let from_gcc = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|triple| !triple.is_empty());
    from_gcc.unwrap_or_else(|| {
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".to_string());
        format!("{arch}-linux-gnu")
    })
}
