//! `cargo xtask release <version> [--dry-run] [--skip-ci] [--no-verify] [--offline]
//! [--profile P]`: cut a release.
//!
//! 1. Refuses a dirty tree (untracked files included), an existing tag `v<version>`, and a
//!    version that is not a semantic version above the current one.
//! 2. Runs `cargo xtask ci` (not with `--skip-ci`).
//! 3. Bumps every crate in lockstep: `version` of `[workspace.package]` (which every member
//!    inherits) and the `version` of the internal path dependencies in
//!    `[workspace.dependencies]`, then `Cargo.lock`; `cargo metadata` must then report the
//!    new version for every member.
//! 4. Moves CHANGELOG.md's `## Unreleased` section under `## <version> - <YYYY-MM-DD>`
//!    (UTC), leaving a fresh empty `## Unreleased`. An empty Unreleased section is an error:
//!    there would be nothing to release.
//! 5. Packages the publishable crates, `scim-core`, `scim-store`, `scim-client`,
//!    `scim-server` (cargo orders them by their dependencies). One `cargo package` names all
//!    four, so cargo resolves each crate's unpublished siblings from the packages it has
//!    just made (a temporary local registry) and verifies each package by building it as a
//!    user would get it: this works offline. `--no-verify` skips that build. Then `cargo
//!    publish --dry-run` for the same four, which needs the crate registry's index (not with
//!    `--offline`). The `.crate` files stay in `<target>/package/`.
//! 6. Builds `scim-server` and `scim` (profile `release`, or `--profile P`) and writes
//!    `<target>/dist/`: `<bin>-<version>-<host triple>.tar.gz` (the binary, README.md,
//!    CHANGELOG.md and both licence files in a directory of the same name), `SHA256SUMS`
//!    (`sha256sum -c` reads it) and `RELEASE_NOTES.md` (the moved section).
//! 7. Commits `Release <version>` and tags `v<version>` (annotated). Publishing and pushing
//!    are left to the maintainer; the last lines say how.
//!
//! With `--dry-run` every step but the commit and the tag runs on the real tree and
//! `git diff` of the edits is printed; then the edited files are put back byte for byte,
//! and the tree must be clean again. On any failure the edits are put back too, in both
//! modes. `--skip-ci`, `--no-verify`, `--offline` and `--profile dev` exist for the test
//! (`xtask/tests/it/release.rs`), which runs a dry run in a temporary clone and cannot
//! afford a CI run, package verification or a release build there.

use crate::flags::Flags;
use anyhow::{Context, Result, bail, ensure};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates that are published, in dependency order.
pub(crate) const PUBLISHED: [&str; 4] = ["scim-core", "scim-store", "scim-client", "scim-server"];

/// The release binaries: (package, binary).
const BINARIES: [(&str, &str); 2] = [("scim-server", "scim-server"), ("scim-client", "scim")];

/// Files the release edits; put back after a dry run or a failure.
const EDITED: [&str; 3] = ["Cargo.toml", "Cargo.lock", "CHANGELOG.md"];

const USAGE: &str = "usage: cargo xtask release <version> [--dry-run] [--skip-ci] [--no-verify] [--offline] [--profile P]";

#[derive(Debug)]
struct Options {
    version: Version,
    dry_run: bool,
    skip_ci: bool,
    verify: bool,
    offline: bool,
    profile: String,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut version = None;
    let mut opts = Options {
        version: Version::parse("0.0.0")?,
        dry_run: false,
        skip_ci: false,
        verify: true,
        offline: false,
        profile: "release".into(),
    };
    let mut args = Flags::new(args);
    while let Some(arg) = args.next()? {
        match arg {
            "--dry-run" => opts.dry_run = true,
            "--skip-ci" => opts.skip_ci = true,
            "--no-verify" => opts.verify = false,
            "--offline" => opts.offline = true,
            "--profile" => opts.profile = args.value()?.to_owned(),
            flag if flag.starts_with('-') => bail!("unknown flag {flag}\n{USAGE}"),
            v if version.is_none() => version = Some(Version::parse(v)?),
            extra => bail!("unexpected argument {extra}\n{USAGE}"),
        }
    }
    opts.version = version.with_context(|| format!("no version given\n{USAGE}"))?;
    Ok(opts)
}

/// Entry point of `cargo xtask release`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = parse_args(args)?;
    let root = super::root();
    let new = opts.version.to_string();

    ensure!(
        git(&root, &["status", "--porcelain"])?.trim().is_empty(),
        "the working tree is not clean (git status --porcelain): commit or stash first"
    );
    let tag = format!("v{new}");
    ensure!(
        git(&root, &["tag", "--list", &tag])?.trim().is_empty(),
        "the tag {tag} exists already"
    );
    let manifest = read(&root.join("Cargo.toml"))?;
    let old = workspace_version(&manifest)?;
    ensure!(
        opts.version.cmp(&Version::parse(&old)?) == Ordering::Greater,
        "{new} is not above the current version {old}"
    );

    if !opts.skip_ci {
        super::ci().context("cargo xtask ci failed: no release")?;
    }

    let mut edits = Edits::save(&root)?;
    let notes = edit(&root, &manifest, &old, &opts)?;
    let target = check_versions(&new)?;
    package(&opts)?;
    let dist = build_dist(&root, &target, &new, &opts.profile, &notes)?;

    let diff = git(&root, &["diff", "--", "Cargo.toml", "Cargo.lock", "CHANGELOG.md"])?;
    if opts.dry_run {
        println!("{diff}");
        edits.restore()?;
        ensure!(
            git(&root, &["status", "--porcelain"])?.trim().is_empty(),
            "the dry run left the tree dirty"
        );
        println!("dry run: {old} -> {new}; the tree is as it was, no commit, no tag");
    } else {
        let mut add = vec!["add", "--"];
        add.extend(EDITED);
        git(&root, &add)?;
        git(&root, &["commit", "--quiet", "-m", &format!("Release {new}")])?;
        git(&root, &["tag", "-a", &tag, "-m", &format!("Release {new}")])?;
        edits.disarm();
        println!("committed \"Release {new}\" and tagged {tag}");
        println!("next: git push origin HEAD {tag}");
        println!("      cargo publish -p scim-core -p scim-store -p scim-client -p scim-server");
    }
    println!("packages: {}", target.join("package").display());
    println!("binaries: {}", dist.display());
    Ok(())
}

/// Bumps the versions and moves the changelog section; returns the release notes.
fn edit(root: &Path, manifest: &str, old: &str, opts: &Options) -> Result<String> {
    let new = opts.version.to_string();
    let bumped = bump_manifest(manifest, old, &new)?;
    fs::write(root.join("Cargo.toml"), bumped)?;
    super::run(super::cargo().args(["update", "--workspace", "--offline", "--quiet"]))?;
    let changelog = read(&root.join("CHANGELOG.md"))?;
    let (changelog, notes) = release_changelog(&changelog, &new, &today())?;
    fs::write(root.join("CHANGELOG.md"), changelog)?;
    Ok(notes)
}

/// Every workspace member must now have `version`; returns the target directory.
fn check_versions(version: &str) -> Result<PathBuf> {
    let out = super::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(super::root())
        .output()
        .context("running cargo metadata")?;
    ensure!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = meta["packages"].as_array().context("cargo metadata: no packages")?;
    for p in packages {
        let (name, v) = (p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?"));
        ensure!(v == version, "{name} is at {v} after the bump, not {version}");
    }
    for name in PUBLISHED {
        ensure!(
            packages.iter().any(|p| p["name"] == name),
            "{name} is not a member of the workspace"
        );
    }
    let target = meta["target_directory"].as_str().context("cargo metadata: no target")?;
    Ok(PathBuf::from(target))
}

/// `cargo package` (verifying unless `--no-verify`), then `cargo publish --dry-run`.
fn package(opts: &Options) -> Result<()> {
    let crates = PUBLISHED.iter().flat_map(|c| ["-p", c]);
    let mut cmd = super::cargo();
    cmd.args(["package", "--allow-dirty", "--locked"]).args(crates.clone());
    if !opts.verify {
        cmd.arg("--no-verify");
    }
    if opts.offline {
        cmd.arg("--offline");
    }
    super::run(&mut cmd)?;
    if opts.offline {
        eprintln!(
            "release: --offline, so no cargo publish --dry-run (it needs the registry index)"
        );
        return Ok(());
    }
    // Packaged and verified above; this adds the registry's own checks.
    super::run(
        super::cargo()
            .args(["publish", "--dry-run", "--allow-dirty", "--locked", "--no-verify"])
            .args(crates),
    )
}

/// Builds the binaries and writes `<target>/dist/`; returns that directory.
fn build_dist(
    root: &Path,
    target: &Path,
    version: &str,
    profile: &str,
    notes: &str,
) -> Result<PathBuf> {
    let mut cmd = super::cargo();
    cmd.args(["build", "--locked", "--profile", profile]);
    for (package, bin) in BINARIES {
        cmd.args(["-p", package, "--bin", bin]);
    }
    super::run(&mut cmd)?;
    let out_dir = target.join(match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    });
    let dist = target.join("dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).with_context(|| format!("removing {}", dist.display()))?;
    }
    fs::create_dir_all(&dist)?;
    let triple = host_triple()?;
    let mut sums = String::new();
    for (_, bin) in BINARIES {
        let name = format!("{bin}-{version}-{triple}");
        let stage = dist.join(".stage").join(&name);
        fs::create_dir_all(&stage)?;
        let exe = format!("{bin}{}", std::env::consts::EXE_SUFFIX);
        copy(&out_dir.join(&exe), &stage.join(&exe))?;
        for file in ["README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            copy(&root.join(file), &stage.join(file))?;
        }
        let tarball = format!("{name}.tar.gz");
        super::run(
            Command::new("tar")
                .arg("-czf")
                .arg(dist.join(&tarball))
                .arg("-C")
                .arg(dist.join(".stage"))
                .arg(&name),
        )?;
        let digest = Sha256::digest(fs::read(dist.join(&tarball))?);
        sums.push_str(&format!("{}  {tarball}\n", hex::encode(digest)));
    }
    fs::remove_dir_all(dist.join(".stage"))?;
    fs::write(dist.join("SHA256SUMS"), sums)?;
    fs::write(dist.join("RELEASE_NOTES.md"), notes)?;
    Ok(dist)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The host's target triple, from `rustc -vV`: the binaries are built for it.
fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc).arg("-vV").output().context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .context("rustc -vV names no host")
}

/// Runs git in `root`; its stdout.
fn git(root: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The original bytes of the files the release edits, put back on drop unless disarmed.
#[derive(Debug)]
struct Edits {
    saved: Vec<(PathBuf, Vec<u8>)>,
    armed: bool,
}

impl Edits {
    fn save(root: &Path) -> Result<Edits> {
        let saved = EDITED
            .iter()
            .map(|f| {
                let path = root.join(f);
                fs::read(&path)
                    .with_context(|| format!("reading {}", path.display()))
                    .map(|b| (path, b))
            })
            .collect::<Result<_>>()?;
        Ok(Edits { saved, armed: true })
    }

    fn restore(&mut self) -> Result<()> {
        for (path, bytes) in &self.saved {
            fs::write(path, bytes).with_context(|| format!("restoring {}", path.display()))?;
        }
        self.armed = false;
        Ok(())
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Edits {
    fn drop(&mut self) {
        if self.armed {
            eprintln!("release: putting back {}", EDITED.join(", "));
            if let Err(e) = self.restore() {
                eprintln!("release: {e:#}; `git checkout -- {}` does it", EDITED.join(" "));
            }
        }
    }
}

/// A semantic version `MAJOR.MINOR.PATCH[-PRE]` (no build metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    core: [u64; 3],
    pre: Vec<String>,
}

impl Version {
    pub(crate) fn parse(s: &str) -> Result<Version> {
        let bad = || format!("'{s}' is not a version MAJOR.MINOR.PATCH[-PRE]");
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let numbers: Vec<u64> = core
            .split('.')
            .map(|n| {
                let ok = !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && (n == "0" || !n.starts_with('0'));
                if ok { n.parse().ok() } else { None }
            })
            .collect::<Option<_>>()
            .with_context(bad)?;
        let core: [u64; 3] = numbers.try_into().ok().with_context(bad)?;
        let pre: Vec<String> = match pre {
            None => Vec::new(),
            Some(p) => p.split('.').map(str::to_owned).collect(),
        };
        let ident_ok =
            |i: &String| !i.is_empty() && i.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        ensure!(pre.iter().all(ident_ok), bad());
        Ok(Version { core, pre })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c] = self.core;
        write!(f, "{a}.{b}.{c}")?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre.join("."))?;
        }
        Ok(())
    }
}

impl Ord for Version {
    /// Semantic versioning's precedence: a pre-release sorts below its release;
    /// numeric identifiers compare as numbers and below alphanumeric ones.
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (a, b) in self.pre.iter().zip(&other.pre) {
                    let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                        (Ok(x), Ok(y)) => x.cmp(&y),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        (Err(_), Err(_)) => a.cmp(b),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                self.pre.len().cmp(&other.pre.len())
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The `version` of `[workspace.package]` in the root manifest.
pub(crate) fn workspace_version(manifest: &str) -> Result<String> {
    let mut section = "";
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            section = t;
        } else if section == "[workspace.package]"
            && let Some(v) = key_value(t, "version")
        {
            return Ok(v.to_owned());
        }
    }
    bail!("Cargo.toml: no version in [workspace.package]")
}

/// The quoted value of `key = "..."` on a line.
fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
    rest.strip_prefix('"')?.split('"').next()
}

/// The root manifest with `[workspace.package]`'s version and the version of every
/// published path dependency in `[workspace.dependencies]` moved from `old` to `new` (an
/// internal one, such as the test support crate, has no version to move).
pub(crate) fn bump_manifest(manifest: &str, old: &str, new: &str) -> Result<String> {
    let (from, to) = (format!("version = \"{old}\""), format!("version = \"{new}\""));
    let mut section = String::new();
    let mut out = String::with_capacity(manifest.len() + 16);
    let mut package_bumped = false;
    for line in manifest.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            section = t.to_owned();
        }
        let bumped = if section == "[workspace.package]" && key_value(t, "version").is_some() {
            ensure!(t == from, "Cargo.toml: expected `{from}` in [workspace.package], found `{t}`");
            package_bumped = true;
            line.replace(&from, &to)
        } else if section == "[workspace.dependencies]"
            && t.contains("path = ")
            && PUBLISHED.iter().any(|c| t.split('=').next().is_some_and(|n| n.trim() == *c))
        {
            ensure!(
                line.contains(&from),
                "Cargo.toml: the internal dependency `{t}` must say `{from}` (it is published)"
            );
            line.replace(&from, &to)
        } else {
            line.to_owned()
        };
        out.push_str(&bumped);
    }
    ensure!(package_bumped, "Cargo.toml: no version in [workspace.package]");
    Ok(out)
}

/// CHANGELOG.md with its `## Unreleased` section moved under `## <version> - <date>` and a
/// fresh empty `## Unreleased` above it; also the release notes (that section).
pub(crate) fn release_changelog(text: &str, version: &str, date: &str) -> Result<(String, String)> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_heading = |l: &str| l.starts_with("## ");
    let unreleased = |l: &str| {
        let h = l.trim_end().to_ascii_lowercase();
        h == "## unreleased" || h == "## [unreleased]"
    };
    let at = lines
        .iter()
        .position(|l| unreleased(l))
        .context("CHANGELOG.md has no `## Unreleased` section")?;
    let body_end =
        lines.iter().skip(at + 1).position(|l| is_heading(l)).map_or(lines.len(), |n| at + 1 + n);
    let body: String = lines.get(at + 1..body_end).unwrap_or_default().concat();
    ensure!(
        !body.trim().is_empty(),
        "CHANGELOG.md: the Unreleased section is empty, so there is nothing to release"
    );
    let taken = |l: &&str| {
        l.strip_prefix("## ")
            .is_some_and(|h| h.trim_start_matches('[').split([' ', ']']).next() == Some(version))
    };
    ensure!(!lines.iter().any(taken), "CHANGELOG.md has a section for {version} already");
    let heading = format!("## {version} - {date}\n");
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str(&lines.get(..=at).unwrap_or_default().concat());
    out.push('\n');
    out.push_str(&heading);
    out.push_str(&lines.get(at + 1..).unwrap_or_default().concat());
    let notes = format!("{heading}\n{}\n", body.trim());
    Ok((out, notes))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_print_and_order() {
        for ok in ["0.1.0", "1.0.0-rc.1", "10.20.30", "1.0.0-alpha-2.x"] {
            assert_eq!(Version::parse(ok).unwrap().to_string(), ok);
        }
        for bad in ["1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0-a..b", "v1.0.0", "1.0.0+b"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        let order = [
            "0.1.0",
            "0.1.1",
            "0.2.0-alpha",
            "0.2.0-alpha.1",
            "0.2.0-alpha.beta",
            "0.2.0-beta.2",
            "0.2.0-beta.11",
            "0.2.0-rc.1",
            "0.2.0",
            "1.0.0",
        ];
        for pair in order.windows(2) {
            let (a, b) = (Version::parse(pair[0]).unwrap(), Version::parse(pair[1]).unwrap());
            assert!(a < b, "{a} < {b}");
        }
    }

    const MANIFEST: &str = r#"[workspace]
members = ["a"]

[workspace.package]
version = "0.1.0"
edition = "2024"

[workspace.dependencies]
scim-core = { path = "scim-core", version = "0.1.0" }
scim-store = { path = "scim-store", version = "0.1.0", default-features = false }
serde = { version = "1", features = ["derive"] }
other = { version = "0.1.0" }
scim-test-support = { path = "test-support" }
"#;

    #[test]
    fn bumps_the_workspace_and_the_internal_dependencies_only() {
        assert_eq!(workspace_version(MANIFEST).unwrap(), "0.1.0");
        let bumped = bump_manifest(MANIFEST, "0.1.0", "0.2.0").unwrap();
        assert_eq!(
            bumped,
            MANIFEST
                .replace("version = \"0.1.0\"\nedition", "version = \"0.2.0\"\nedition")
                .replace("\"scim-core\", version = \"0.1.0\"", "\"scim-core\", version = \"0.2.0\"")
                .replace(
                    "\"scim-store\", version = \"0.1.0\"",
                    "\"scim-store\", version = \"0.2.0\""
                )
        );
        assert!(bumped.contains("other = { version = \"0.1.0\" }"));
        // An unpublished internal crate has no version to move.
        assert!(bumped.contains("scim-test-support = { path = \"test-support\" }\n"));
        // An internal dependency without a version could not be published.
        let unversioned = MANIFEST.replace("\"scim-core\", version = \"0.1.0\"", "\"scim-core\"");
        assert!(bump_manifest(&unversioned, "0.1.0", "0.2.0").is_err());
        // The manifest must be at the version we think it is.
        assert!(bump_manifest(MANIFEST, "0.0.9", "0.2.0").is_err());
    }

    const CHANGELOG: &str = "# Changelog\n\nIntro.\n\n## Unreleased\n\n### Added\n\n- Things.\n\n## 0.1.0 - 2026-01-02\n\n- First.\n";

    #[test]
    fn moves_the_unreleased_section_under_the_version() {
        let (text, notes) = release_changelog(CHANGELOG, "0.2.0", "2026-12-05").unwrap();
        assert_eq!(
            text,
            "# Changelog\n\nIntro.\n\n## Unreleased\n\n## 0.2.0 - 2026-12-05\n\n### Added\n\n- Things.\n\n## 0.1.0 - 2026-01-02\n\n- First.\n"
        );
        assert_eq!(notes, "## 0.2.0 - 2026-12-05\n\n### Added\n\n- Things.\n");
        // Released again at once: the fresh section is empty.
        let err = release_changelog(&text, "0.3.0", "2026-12-05").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        // The last section, and a version released already.
        let last = "# C\n\n## [Unreleased]\n- x\n";
        assert_eq!(
            release_changelog(last, "1.0.0", "D").unwrap().0,
            "# C\n\n## [Unreleased]\n\n## 1.0.0 - D\n- x\n"
        );
        assert!(release_changelog(CHANGELOG, "0.1.0", "D").is_err());
        assert!(release_changelog("# C\n", "0.1.0", "D").is_err());
    }

    #[test]
    fn dates_from_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn arguments() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let o = parse_args(&args("0.2.0 --dry-run --profile dev --skip-ci")).unwrap();
        assert_eq!(o.version.to_string(), "0.2.0");
        assert!(o.dry_run && o.skip_ci && o.verify && !o.offline);
        assert_eq!(o.profile, "dev");
        assert!(parse_args(&args("--dry-run")).is_err());
        assert!(parse_args(&args("0.2.0 0.3.0")).is_err());
        assert!(parse_args(&args("0.2.0 --force")).is_err());
    }
}
