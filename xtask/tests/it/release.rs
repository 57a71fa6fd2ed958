//! `cargo xtask release <next> --dry-run` in a temporary clone of this repository: the
//! versions move in lockstep into the packaged crates and the binaries, CHANGELOG.md's
//! Unreleased section moves under the version, `target/dist/` holds the tarballs and their
//! checksums, and the clone is left exactly as it was (no commit, no tag, no edit).
//!
//! The clone is of HEAD with the working tree's changes copied over, so the test checks the
//! code as it is, committed or not. It builds in its own target directory,
//! `target/tmp/release-target` (kept between runs, so only the first run builds the
//! dependencies), with the `dev` profile, without package verification, without `cargo
//! publish --dry-run` (it needs the registry) and without `cargo xtask ci`: those are what a
//! real release adds, and they cost minutes each.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "release test")
        .env("GIT_AUTHOR_EMAIL", "release-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "release test")
        .env("GIT_COMMITTER_EMAIL", "release-test@example.invalid"));
    String::from_utf8(out.stdout).unwrap()
}

/// Paths git lists NUL-separated.
fn paths(listing: &str) -> impl Iterator<Item = &str> {
    listing.split('\0').filter(|p| !p.is_empty())
}

/// Copies `rel` from the repository into the clone as it is in the working tree (a symlink
/// stays a symlink), or removes it from the clone when the working tree lacks it.
fn mirror(repo: &Path, clone: &Path, rel: &str) {
    let (from, to) = (repo.join(rel), clone.join(rel));
    if to.symlink_metadata().is_ok() {
        std::fs::remove_file(&to).unwrap();
    }
    let Ok(meta) = from.symlink_metadata() else { return };
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    if meta.file_type().is_symlink() {
        #[cfg(unix)]
        std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
    } else {
        std::fs::copy(&from, &to).unwrap();
    }
}

/// A clone of the repository with the working tree's changes committed on top.
fn clone_working_tree(dir: &Path) -> PathBuf {
    let repo = root();
    let clone = dir.join("repo");
    run(Command::new("git").args(["clone", "--quiet", "--no-hardlinks"]).arg(&repo).arg(&clone));
    let changed = git(&repo, &["diff", "--name-only", "-z", "HEAD"]);
    let untracked = git(&repo, &["ls-files", "--others", "--exclude-standard", "-z"]);
    for rel in paths(&changed).chain(paths(&untracked)) {
        mirror(&repo, &clone, rel);
    }
    if !git(&clone, &["status", "--porcelain"]).trim().is_empty() {
        git(&clone, &["add", "--all"]);
        git(&clone, &["commit", "--quiet", "--no-verify", "-m", "the working tree under test"]);
    }
    clone
}

/// `version = "..."` of `[workspace.package]`.
fn workspace_version(manifest: &str) -> String {
    let package = manifest.split("[workspace.package]").nth(1).unwrap();
    let line = package.lines().find(|l| l.starts_with("version")).unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

/// The next minor version: `0.1.0` -> `0.2.0`.
fn next_minor(version: &str) -> String {
    let core = version.split('-').next().unwrap();
    let parts: Vec<u64> = core.split('.').map(|n| n.parse().unwrap()).collect();
    format!("{}.{}.0", parts[0], parts[1] + 1)
}

/// The body of CHANGELOG.md's Unreleased section, trimmed.
fn unreleased(changelog: &str) -> String {
    let after = changelog.split("\n## Unreleased\n").nth(1).unwrap();
    after.split("\n## ").next().unwrap().trim().to_owned()
}

fn host_triple() -> String {
    let out =
        run(Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-vV"));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix("host: ")).unwrap().trim().to_owned()
}

#[test]
fn dry_run_in_a_clone_bumps_moves_packages_and_builds_then_leaves_the_tree() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // A failed run leaves its clone for a look; the next run clears it away.
    for old in std::fs::read_dir(tmp).unwrap().flatten() {
        if old.file_name().to_string_lossy().starts_with("release-test-") {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    let work = tmp.join(format!("release-test-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let clone = clone_working_tree(&work);
    let head = git(&clone, &["rev-parse", "HEAD"]);

    let manifest = std::fs::read_to_string(clone.join("Cargo.toml")).unwrap();
    let old = workspace_version(&manifest);
    let new = next_minor(&old);
    let changelog = std::fs::read_to_string(clone.join("CHANGELOG.md")).unwrap();
    let target = tmp.join("release-target");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = run(Command::new(cargo)
        .current_dir(&clone)
        .args(["xtask", "release", &new, "--dry-run", "--skip-ci", "--no-verify", "--offline"])
        .args(["--profile", "dev"])
        .env("CARGO_TARGET_DIR", &target));
    let stdout = String::from_utf8(out.stdout).unwrap();

    // The printed diff: the workspace version and every internal dependency moved ...
    assert!(stdout.contains(&format!("-version = \"{old}\"")), "{stdout}");
    assert!(stdout.contains(&format!("+version = \"{new}\"")), "{stdout}");
    for dep in ["scim-core", "scim-store", "scim-client"] {
        assert!(
            stdout.contains(&format!("+{dep} = {{ path = \"{dep}\", version = \"{new}\"")),
            "{stdout}"
        );
    }
    // ... and the Unreleased section under the version, with today's date.
    let heading = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("+## {new} - ")))
        .unwrap_or_else(|| panic!("no new CHANGELOG heading in\n{stdout}"));
    assert!(heading.len() == 10 && heading.as_bytes()[4] == b'-', "{heading}");

    // The tree is as it was: no edit, no commit, no tag.
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&clone, &["tag", "--list", &format!("v{new}")]), "");

    // The packaged crates carry the new version, and scim-server names its siblings at it.
    for name in ["scim-core", "scim-store", "scim-client", "scim-server"] {
        let krate = target.join("package").join(format!("{name}-{new}.crate"));
        let toml = run(Command::new("tar")
            .arg("-xzOf")
            .arg(&krate)
            .arg(format!("{name}-{new}/Cargo.toml")));
        let toml = String::from_utf8(toml.stdout).unwrap();
        assert!(toml.contains(&format!("version = \"{new}\"")), "{name}:\n{toml}");
        if name == "scim-server" {
            assert!(
                toml.contains(&format!("[dependencies.scim-store]\nversion = \"{new}\"")),
                "{toml}"
            );
        }
    }

    // target/dist: one tarball per binary, SHA256SUMS over them, the release notes.
    let dist = target.join("dist");
    let triple = host_triple();
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 2, "{sums}");
    for bin in ["scim-server", "scim"] {
        let tarball = format!("{bin}-{new}-{triple}.tar.gz");
        let bytes = std::fs::read(dist.join(&tarball)).unwrap();
        let line = format!("{}  {tarball}", hex::encode(Sha256::digest(&bytes)));
        assert!(sums.lines().any(|l| l == line), "{line} not in\n{sums}");
        // The binary inside says the new version.
        let unpacked = work.join("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        run(Command::new("tar").arg("-xzf").arg(dist.join(&tarball)).arg("-C").arg(&unpacked));
        let dir = unpacked.join(format!("{bin}-{new}-{triple}"));
        for file in ["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(dir.join(file).is_file(), "{tarball} lacks {file}");
        }
        let version = run(Command::new(dir.join(bin)).arg("--version"));
        assert_eq!(String::from_utf8(version.stdout).unwrap().trim(), format!("{bin} {new}"));
    }
    let notes = std::fs::read_to_string(dist.join("RELEASE_NOTES.md")).unwrap();
    assert_eq!(notes, format!("## {new} - {heading}\n\n{}\n", unreleased(&changelog)));

    std::fs::remove_dir_all(&work).unwrap();
}
