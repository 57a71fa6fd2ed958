//! The documentation stays true to the code: `docs/configuration.md` has a row for every
//! option of the configuration type, with its flag.

#[test]
fn configuration_md_documents_every_option_and_its_flag() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `")).collect();
    for name in scim_server::config::option_names() {
        let row = rows
            .iter()
            .find(|r| r.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{name}`"));
        if name == "bootstrap_token" {
            continue; // no flag on purpose: the secret never shows in the process list
        }
        let flag = format!("`--{}", name.replace('_', "-"));
        let flag = if name == "cors_origins" { "`--cors-origin`".to_owned() } else { flag };
        assert!(row.contains(&flag), "the row of `{name}` names no flag {flag}`: {row}");
    }
}
