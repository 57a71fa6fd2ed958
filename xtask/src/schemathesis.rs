//! `cargo xtask schemathesis [--url URL --token TOKEN] [--secs N] [--examples N]`:
//! property-based tests of the HTTP API generated from its own `/openapi.json`.
//!
//! Without `--url` it builds the debug `scim-server`, starts it on a fresh SQLite file in a
//! temporary directory under the target directory, on a free 127.0.0.1 port, with a random
//! `SCIM_BOOTSTRAP_TOKEN`, and stops it at the end (also when a step fails). It installs
//! schemathesis (pinned: [`PIN`]) into a venv under the target directory and runs it against
//! `/openapi.json` with the bearer token, for at most `--secs` seconds (default 120) and
//! `--examples` examples per operation (default 20). The run fails on a 5xx, a status code
//! the document does not list for the operation, a response body that violates the
//! documented schema, or an undocumented content type. The report (JUnit XML) and the
//! server's log go to `target/schemathesis/`.
//!
//! With `--url URL` (the server's root, e.g. `http://127.0.0.1:8080`) it tests that server
//! instead; `--token` or `SCIM_TOKEN` gives the bearer token, `--org` the organization the
//! `/Organizations/{OrganizationSid}/scim` routes are tested on (else generated sids, 403). Needs `python3` with `venv` and
//! pip access to the package registry on the first run.

use crate::flags::Flags;
use crate::spawn::{self, DatabaseUrl, ScimServer, TempSqlite};
use crate::venv::{self, Wants};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// The schemathesis release this command runs; bump deliberately (new releases add checks).
const PIN: &str = "schemathesis==4.32.5";

/// The checks a run applies (schemathesis names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,\
                      response_schema_conformance,content_type_conformance";

const USAGE: &str = "usage: cargo xtask schemathesis [--url URL --token TOKEN [--org SID]] [--secs N] [--examples N]";

#[derive(Debug)]
struct Options {
    url: Option<String>,
    token: Option<String>,
    secs: u64,
    examples: u64,
    /// The organization the `/Organizations/{OrganizationSid}/scim` routes are tested on.
    org: Option<String>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        url: None,
        token: std::env::var("SCIM_TOKEN").ok().filter(|t| !t.is_empty()),
        secs: 120,
        examples: 20,
        org: None,
    };
    let mut args = Flags::new(args);
    while let Some(flag) = args.next()? {
        match flag {
            "--url" => o.url = Some(args.value()?.trim_end_matches('/').to_owned()),
            "--token" => o.token = Some(args.value()?.to_owned()),
            "--secs" => o.secs = args.value()?.parse().context("--secs takes seconds")?,
            "--org" => o.org = Some(args.value()?.to_owned()),
            "--examples" => {
                o.examples = args.value()?.parse().context("--examples takes a number")?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument '{other}'; {USAGE}"),
        }
    }
    if o.url.is_some() && o.token.is_none() {
        bail!("--url needs --token (or SCIM_TOKEN)");
    }
    Ok(o)
}

/// Entry point of `cargo xtask schemathesis`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let opts = parse_options(args)?;
    let target = super::target_dir();
    let out = target.join("schemathesis");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Made or remade when `PIN` changes.
    let venv = target.join("schemathesis-venv");
    let announce = format!("schemathesis: installing {PIN} into {}", venv.display());
    let tool = venv::ensure(&venv, Wants::Pin(PIN), "schemathesis", &announce)?;
    match (&opts.url, &opts.token) {
        (Some(url), Some(token)) => run_schemathesis(&tool, &out, url, token, &opts),
        _ => {
            let bin = spawn::build_server()?;
            let token = spawn::random_hex(24);
            let db = TempSqlite::create(out.join(format!("tmp-{}", std::process::id())))?;
            let scim = ScimServer { bin: &bin, dir: &db.dir, database: DatabaseUrl::Env(&db.url) };
            let bootstrap = [("SCIM_BOOTSTRAP_TOKEN", token.as_str())];
            let server = scim.serve("schemathesis", &out.join("server.log"), &bootstrap)?;
            let org = scim.default_org()?;
            let opts = Options { org: Some(org), ..opts };
            let result = run_schemathesis(&tool, &out, &server.url(), &token, &opts);
            drop(server);
            result
        }
    }
}

fn run_schemathesis(tool: &Path, out: &Path, url: &str, token: &str, o: &Options) -> Result<()> {
    let report = out.join("report");
    let mut cmd = Command::new(tool);
    // Family B on a real organization (a generated sid is only ever 403).
    if let Some(org) = &o.org {
        let config = out.join("schemathesis.toml");
        fs::write(&config, format!("[parameters]\n\"path.OrganizationSid\" = \"{org}\"\n"))?;
        cmd.arg("--config-file").arg(config);
    }
    cmd.arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--url", url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS])
        // `/Me` answers 501 by design (RFC 7644 3.11 lets a provider leave it out), which
        // the server-error check would count.
        .args(["--exclude-path-regex", "/Me$"])
        .args(["--max-time", &o.secs.to_string()])
        .args(["--max-examples", &o.examples.to_string()])
        .args(["--request-timeout", "30"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(&report)
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null());
    eprintln!("schemathesis: {url} for at most {}s, {} examples per operation", o.secs, o.examples);
    let status = cmd.status().with_context(|| format!("running {}", tool.display()))?;
    if !status.success() {
        bail!(
            "schemathesis found failures ({status}); the report is in {}, the server log in {}",
            report.display(),
            out.join("server.log").display()
        );
    }
    println!("schemathesis: no failures");
    Ok(())
}
