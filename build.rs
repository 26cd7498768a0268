//! Compresses the web client (`web/`) once, at build time, with brotli and gzip at their
//! strongest settings, so that serving a file costs no CPU and a cold load is as small as it
//! can be.
//!
//! It writes each compressible file's two encodings under `$OUT_DIR/web-compressed/` and a table
//! (`$OUT_DIR/web_compressed.rs`, included by `src/http/web.rs`) naming, per file, the SHA-256 of
//! the original and the two encodings. The server uses an encoding only while the file it serves
//! still has that hash: a debug build reads `web/` from disk, and a file edited since the build is
//! then sent as it is rather than as a stale compressed copy.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The extensions worth compressing (pictures other than SVG are compressed already).
const COMPRESSIBLE: &[&str] = &["html", "js", "css", "svg", "json", "txt", "map"];

fn main() {
    println!("cargo:rerun-if-changed=web");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut files = Vec::new();
    collect(Path::new("web"), &mut files);
    files.sort();
    let mut table = String::from(
        "/// Per file of `web/`: its path, the SHA-256 of its bytes, then brotli, then gzip.\n\
         static PRECOMPRESSED: &[Precompressed] = &[\n",
    );
    for file in files {
        let rel = file
            .strip_prefix("web")
            .expect("collected under web/")
            .to_string_lossy()
            .replace('\\', "/");
        let compressible = Path::new(&rel)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| COMPRESSIBLE.contains(&e));
        if !compressible {
            continue;
        }
        let data = std::fs::read(&file).expect("reading a file of web/");
        let hash: [u8; 32] = Sha256::digest(&data).into();
        let br = write(&out, &format!("{rel}.br"), &brotli(&data));
        let gz = write(&out, &format!("{rel}.gz"), &gzip(&data));
        table.push_str(&format!(
            "    ({rel:?}, {hash:?}, include_bytes!({br:?}), include_bytes!({gz:?})),\n"
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("web_compressed.rs"), table).expect("writing the table");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading web/").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Writes `bytes` to `$OUT_DIR/web-compressed/<name>` and returns that path.
fn write(out: &Path, name: &str, bytes: &[u8]) -> String {
    let path = out.join("web-compressed").join(name);
    std::fs::create_dir_all(path.parent().expect("a file has a folder")).expect("making folders");
    std::fs::write(&path, bytes).expect("writing a compressed file");
    path.to_string_lossy().into_owned()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(data).expect("compressing in memory");
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    w.write_all(data).expect("compressing in memory");
    w.finish().expect("compressing in memory")
}
