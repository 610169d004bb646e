//! The layering rule `src/web/routes/mod.rs` states, checked: no code under `src/web/`
//! opens a database transaction; every write goes through `crate::operations`.

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_web_module_opens_a_transaction() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut files = Vec::new();
    sources(&web, &mut files);
    assert!(files.len() > 20, "the web layer was found: {}", files.len());
    let call = ["transaction", "("].concat();
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| std::fs::read_to_string(path).is_ok_and(|text| text.contains(&call)))
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "writes belong in operations/: {offenders:?}"
    );
}
