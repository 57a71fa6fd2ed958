//! The `scim` command-line tool: see `scim --help` and docs/client.md.

fn main() -> std::process::ExitCode {
    scim_client::cli::main()
}
