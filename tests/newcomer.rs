//! What a newcomer meets first: the stated Rust version, the README's commands.

use std::process::Command;

/// `major.minor[.patch]` as numbers, for comparing versions.
fn version(text: &str) -> Vec<u64> {
    text.split('.')
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// Cargo.toml's `rust-version` must be at least every locked dependency's
/// own `rust-version`; otherwise `cargo build` on the stated version fails
/// (as it did with 1.85 and hdrhistogram 7.6, which needs 1.88).
#[test]
fn rust_version_covers_every_locked_dependency() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "reactord")
        .and_then(|p| p["rust_version"].as_str())
        .expect("Cargo.toml states a rust-version");
    let mut needed: Vec<(Vec<u64>, String)> = packages
        .iter()
        .filter(|p| p["name"] != "reactord")
        .filter_map(|p| {
            let wanted = p["rust_version"].as_str()?;
            Some((
                version(wanted),
                format!("{} {} needs {wanted}", p["name"], p["version"]),
            ))
        })
        .collect();
    needed.sort();
    let (highest, who) = needed.last().expect("dependencies state rust-versions");
    assert!(
        version(ours) >= *highest,
        "Cargo.toml says rust-version {ours}, but {who}"
    );
}

/// The README calls the installed `reactord` throughout and says how to install it.
#[test]
fn readme_runs_the_binary_one_way() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains("cargo install --path ."),
        "the README must say how to get `reactord`"
    );
    for (number, line) in readme.lines().enumerate() {
        assert!(
            !line.contains("./target/release/reactord") && !line.contains("cargo run -- "),
            "README line {}: run the installed `reactord` instead: {line}",
            number + 1
        );
        assert!(
            !line.contains("--files-root /tmp"),
            "README line {}: serve a directory made for it, not everyone's /tmp: {line}",
            number + 1
        );
        assert!(
            !line.to_lowercase().contains("seed"),
            "README line {}: \"seed\" means nothing to a reader: {line}",
            number + 1
        );
    }
}
