//! `cargo xtask docs-check`: the `scim-server` and `scim` command lines shown in README.md and
//! docs/*.md must parse with the binaries as built.
//!
//! What is checked (the convention is in CONTRIBUTING.md, "Commands in the docs"):
//! - fenced blocks whose info string starts with `sh`, `bash`, `shell` or `console`, and in
//!   README.md also the indented (four-space) code blocks;
//! - in them, every command that runs `scim-server` or `scim`: at the start of a line or
//!   after `|`, `;`, `&&`, `||`, `&` or `$(`, after any `VAR=value` assignments, or as
//!   `cargo run ... -p scim-server -- ARGS`; lines continued with `\` are joined; in
//!   `console` blocks only lines starting with `$ `;
//! - each is run as the built binary with its arguments and `--help` appended: clap rejects
//!   an unknown subcommand or flag before it reaches `--help`, so the check catches a
//!   renamed command or option; values are not checked and nothing is executed.
//!
//! A block whose info string also says `synopsis` (```` ```sh synopsis ````) shows a
//! command's shape with placeholders (`[--org ORG]`, `pause | resume`) and is skipped.
//!
//! A block whose info string says `run` (```` ```sh run ````) is also executed: by
//! `bash -euo pipefail` in a fresh temporary directory, with the built binaries first on
//! `PATH` and no `SCIM_*` variable set, in a process group of its own that is ended
//! afterwards (so a server it starts in the background stops with it), within two minutes.
//! It must exit 0. Such a block must be self-contained: it may use `127.0.0.1:8080`,
//! `openssl`, `curl` and `sqlite3`, nothing that is not on the machines.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One command found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// `scim-server` or `scim`.
    pub(crate) bin: String,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// Where: file and line (1-based).
    pub(crate) at: String,
}

/// A code block: its info string and its lines with their line numbers.
struct Block {
    info: String,
    lines: Vec<(usize, String)>,
}

fn blocks(text: &str, indented: bool) -> Vec<Block> {
    let mut out = Vec::new();
    let mut fenced: Option<Block> = None;
    let mut indent: Option<Block> = None;
    let mut prev_blank = true;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim_start();
        if let Some(b) = fenced.as_mut() {
            if trimmed.starts_with("```") {
                out.extend(fenced.take());
            } else {
                b.lines.push((n, line.to_owned()));
            }
            prev_blank = false;
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            out.extend(indent.take());
            fenced = Some(Block { info: info.trim().to_owned(), lines: Vec::new() });
            prev_blank = false;
            continue;
        }
        if indented {
            let code = line.strip_prefix("    ");
            match (indent.as_mut(), code) {
                (Some(b), Some(c)) => b.lines.push((n, c.to_owned())),
                (Some(b), None) if line.trim().is_empty() => b.lines.push((n, String::new())),
                (Some(_), None) => out.extend(indent.take()),
                (None, Some(c)) if prev_blank && !c.trim().is_empty() => {
                    indent = Some(Block { info: "sh".into(), lines: vec![(n, c.to_owned())] });
                }
                _ => {}
            }
        }
        prev_blank = line.trim().is_empty();
    }
    out.extend(indent);
    out
}

/// Whether a block is to be executed (`sh run`).
fn runnable(info: &str) -> bool {
    let mut words = info.split(|c: char| c.is_whitespace() || c == ',');
    matches!(words.next(), Some("sh" | "bash")) && words.any(|w| w == "run")
}

/// The `sh run` blocks of a document: where each starts, and its text.
pub(crate) fn runnable_blocks(file: &str, text: &str) -> Vec<(String, String)> {
    blocks(text, false)
        .into_iter()
        .filter(|b| runnable(&b.info))
        .map(|b| {
            let at = format!("{file}:{}", b.lines.first().map_or(0, |(n, _)| *n));
            let script: Vec<String> = b.lines.into_iter().map(|(_, l)| l).collect();
            (at, script.join("\n"))
        })
        .collect()
}

/// Runs one `sh run` block (see the module doc); `Err` with its output when it fails.
fn execute(bin_dir: &Path, at: &str, script: &str) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("scim-docs-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("setsid");
    cmd.args(["bash", "-euo", "pipefail", "-c", script])
        .current_dir(&dir)
        .env("PATH", path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SCIM_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().context("running bash through setsid")?;
    let pid = child.id();
    // The output is read on threads so a chatty block never blocks on a full pipe.
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    }
    let outs = drain(child.stdout.take());
    let errs = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // End what the block left running (its process group: setsid made bash its leader).
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = child.wait();
    let (stdout, stderr) = (outs.join().unwrap_or_default(), errs.join().unwrap_or_default());
    let _ = std::fs::remove_dir_all(&dir);
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => bail!("{at}: the block failed ({s}):\n{stdout}{stderr}"),
        None => bail!("{at}: the block ran over two minutes:\n{stdout}{stderr}"),
    }
}

/// Whether a block's commands are checked.
fn checked(info: &str) -> bool {
    let mut words = info.split(|c: char| c.is_whitespace() || c == ',');
    let lang = words.next().unwrap_or_default();
    matches!(lang, "sh" | "bash" | "shell" | "console") && !words.any(|w| w == "synopsis")
}

/// Shell words and operators of one logical line, roughly as `sh` splits them: quotes
/// and backslashes are honoured, `#` starts a comment, `$VAR` is kept as text.
fn tokens(line: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |out: &mut Vec<Tok>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            out.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(&next) = chars.peek()
                                && matches!(next, '"' | '\\' | '$' | '`')
                            {
                                word.push(next);
                                chars.next();
                            } else {
                                word.push('\\');
                            }
                        }
                        _ => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            '#' if !in_word => break,
            '$' if chars.peek() == Some(&'(') => {
                flush(&mut out, &mut word, &mut in_word);
                chars.next();
                out.push(Tok::Op);
            }
            '|' | ';' | '&' | '(' | ')' => {
                flush(&mut out, &mut word, &mut in_word);
                out.push(Tok::Op);
            }
            '<' | '>' => {
                // A redirection: its target is not an argument. `2>` loses its `2`.
                if word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                flush(&mut out, &mut word, &mut in_word);
                while chars.peek().is_some_and(|c| matches!(c, '>' | '&')) {
                    chars.next();
                }
                out.push(Tok::Redirect);
            }
            c if c.is_whitespace() => flush(&mut out, &mut word, &mut in_word),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut out, &mut word, &mut in_word);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Op,
    Redirect,
}

/// The commands of one simple command's words, if it runs one of the binaries.
fn command(words: &[String]) -> Option<(String, Vec<String>)> {
    let start = words.iter().position(|w| !is_assignment(w))?;
    let words = words.get(start..)?;
    let first = words.first()?;
    let name = first.rsplit('/').next().unwrap_or(first);
    if name == "scim-server" || name == "scim" {
        return Some((name.to_owned(), words.get(1..)?.to_vec()));
    }
    // `cargo run [--release] -p scim-server -- ARGS` (or `--bin scim`).
    if name == "cargo" && words.get(1).map(String::as_str) == Some("run") {
        let sep = words.iter().position(|w| w == "--");
        let head = &words[..sep.unwrap_or(words.len())];
        let bin = head.windows(2).find_map(|w| match (w[0].as_str(), w[1].as_str()) {
            ("-p" | "--package", "scim-server") | ("--bin", "scim-server") => Some("scim-server"),
            ("--bin", "scim") => Some("scim"),
            _ => None,
        })?;
        let args = sep.map(|s| words[s + 1..].to_vec()).unwrap_or_default();
        return Some((bin.to_owned(), args));
    }
    None
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Every checked command of a document.
pub(crate) fn extract(file: &str, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for block in blocks(text, file.ends_with("README.md")) {
        if !checked(&block.info) {
            continue;
        }
        let console = block.info.starts_with("console");
        let mut pending: Option<(usize, String)> = None;
        for (n, line) in &block.lines {
            let line = match (&pending, console) {
                (Some(_), _) => line.as_str(),
                (None, true) => match line.trim_start().strip_prefix("$ ") {
                    Some(l) => l,
                    None => continue,
                },
                (None, false) => line.as_str(),
            };
            let (first, mut joined) = pending.take().unwrap_or((*n, String::new()));
            if let Some(head) = line.trim_end().strip_suffix('\\') {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((first, joined));
                continue;
            }
            joined.push_str(line);
            let mut words: Vec<String> = Vec::new();
            let mut skip_next = false;
            let mut simple = |words: &mut Vec<String>| {
                if let Some((bin, args)) = command(words) {
                    found.push(Found { bin, args, at: format!("{file}:{first}") });
                }
                words.clear();
            };
            for tok in tokens(&joined) {
                match tok {
                    Tok::Word(_) if skip_next => skip_next = false,
                    Tok::Word(w) => words.push(w),
                    Tok::Redirect => skip_next = true,
                    Tok::Op => simple(&mut words),
                }
            }
            simple(&mut words);
        }
    }
    found
}

/// The documents checked: README.md and docs/*.md.
fn documents(root: &Path) -> Result<Vec<PathBuf>> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .context("reading docs/")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    Ok(docs)
}

/// Builds the binaries and checks every command of the documents; fails listing the
/// commands that do not parse.
pub(crate) fn run(root: &Path) -> Result<()> {
    crate::run(crate::cargo().args(["build", "-p", "scim-server", "-p", "scim-client", "--bins"]))?;
    let target = crate::target_dir();
    let mut failures = Vec::new();
    let mut count = 0;
    for doc in documents(root)? {
        let text = std::fs::read_to_string(&doc).with_context(|| format!("{}", doc.display()))?;
        let name = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        for f in extract(&name, &text) {
            count += 1;
            let out = Command::new(target.join("debug").join(&f.bin))
                .args(&f.args)
                .arg("--help")
                .env_remove("SCIM_CONFIG")
                .output()
                .with_context(|| format!("running {}", f.bin))?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
                failures.push(format!("{}: {} {}: {first}", f.at, f.bin, f.args.join(" ")));
            }
        }
    }
    let mut ran = 0;
    for doc in documents(root)? {
        let text = std::fs::read_to_string(&doc).with_context(|| format!("{}", doc.display()))?;
        let name = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        for (at, script) in runnable_blocks(&name, &text) {
            ran += 1;
            if let Err(e) = execute(&target.join("debug"), &at, &script) {
                failures.push(format!("{e:#}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {count} documented commands and {ran} runnable blocks fail (mark a block \
             `sh synopsis` when it shows placeholders):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    eprintln!("docs-check: {count} documented commands parse; {ran} runnable blocks ran");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(found: &[Found]) -> Vec<String> {
        found.iter().map(|f| format!("{} {}", f.bin, f.args.join(" "))).collect()
    }

    #[test]
    fn finds_commands_in_fenced_and_readme_blocks() {
        let doc = "text\n\n```sh\nSCIM_X=1 scim-server admin backup 'a b.db' \\\n  --force # comment\n\
                   T=$(scim-server admin token create --org default --json | jq -r .token)\n\
                   scim users list > out.txt 2>&1; echo done\n```\n\n\
                   ```sh synopsis\nscim-server admin stream pause ES... | resume ES...\n```\n\n\
                   ```console\n$ scim export -o x.jsonl\nnot a command\n```\n\n\
                   ```json\n{\"scim\": 1}\n```\n";
        assert_eq!(
            args(&extract("docs/x.md", doc)),
            [
                "scim-server admin backup a b.db --force",
                "scim-server admin token create --org default --json",
                "scim users list",
                "scim export -o x.jsonl",
            ]
        );
        let readme = "# R\n\n    cargo run --release -p scim-server -- serve --listen 127.0.0.1:0\n\n\
                      Text.\n\n    scim import people.csv          # created 3\n";
        let found = extract("README.md", readme);
        assert_eq!(
            args(&found),
            ["scim-server serve --listen 127.0.0.1:0", "scim import people.csv"]
        );
        assert_eq!(found[1].at, "README.md:7");
        // Indented blocks count in README.md only.
        assert!(extract("docs/x.md", readme).is_empty());
    }

    #[test]
    fn run_blocks_are_found_and_their_commands_checked_too() {
        let doc = "```sh run\nscim-server migrate\necho ok\n```\n\n```sh\nscim x\n```\n";
        assert_eq!(
            runnable_blocks("docs/x.md", doc),
            [("docs/x.md:2".to_owned(), "scim-server migrate\necho ok".to_owned())]
        );
        assert_eq!(args(&extract("docs/x.md", doc)), ["scim-server migrate", "scim x"]);
    }
}
