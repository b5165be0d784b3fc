//! Compiles every `.proto` under `passerelle/` with the vendored protoc, so a
//! fresh machine needs no system protoc.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut protos = Vec::new();
    collect(&root.join("passerelle"), &mut protos)?;
    protos.sort();
    println!("cargo:rerun-if-changed=passerelle");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    // `env::set_var("PROTOC")` is unsafe in edition 2024; hand the path over instead.
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // `prost::Name` on every message: events are named from their type, never by hand.
    config.enable_type_names();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("passerelle_descriptor.bin"))
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}
