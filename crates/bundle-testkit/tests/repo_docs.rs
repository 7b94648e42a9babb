//! The repository's documentation holds together: every relative link in every Markdown file
//! resolves (file, and heading anchor where one is given), and no file cites a document the
//! repository does not carry (the contract lives in docs/contract.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Files under the repository, skipping build output and VCS data.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if ![
                "target",
                ".git",
                "node_modules",
                "__pycache__",
                "artifacts",
                "corpus",
                "coverage",
            ]
            .contains(&name.as_str())
            {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

/// GitHub's heading anchor: lower case, spaces to `-`, punctuation other than `-`/`_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => {
                Some(c.to_lowercase().next().unwrap_or(c))
            }
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut out = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// `(target)` of every `[text](target)` outside code blocks and code spans.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Drop code spans.
        let text: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut all = Vec::new();
    files(&root(), &mut all);
    let mut broken = Vec::new();
    let mut checked = 0;
    for md in all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let Ok(text) = std::fs::read_to_string(md) else {
            continue;
        };
        for link in links(&text) {
            if link.is_empty()
                || link.contains("://")
                || link.starts_with("mailto:")
                || link.contains(' ')
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                md.clone()
            } else {
                md.parent().unwrap_or(Path::new(".")).join(path)
            };
            let shown = md.strip_prefix(root()).unwrap_or(md).display().to_string();
            if !target.exists() {
                broken.push(format!("{shown}: {link} (no such file)"));
                continue;
            }
            if let (Some(anchor), true) = (anchor, target.extension().is_some_and(|e| e == "md")) {
                let target_text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&target_text).contains(anchor) {
                    broken.push(format!("{shown}: {link} (no such heading)"));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the walk right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn no_file_cites_a_document_the_repository_lacks() {
    let mut all = Vec::new();
    files(&root(), &mut all);
    let this = file!().rsplit('/').next().unwrap_or_default().to_string();
    let forbidden = [
        concat!("SPEC", ".md"),
        concat!("REFERENCE", ".md"),
        concat!("SPEC", " rule"),
    ];
    let mut found = Vec::new();
    for path in &all {
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == this)
        {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for f in forbidden {
            if text.contains(f) {
                found.push(format!(
                    "{}: {f}",
                    path.strip_prefix(root()).unwrap_or(path).display()
                ));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" ocw-phrase — the spoken hold time and the callback offer"),
        "ocw-phrase--the-spoken-hold-time-and-the-callback-offer"
    );
    assert_eq!(slug(" Status and error codes"), "status-and-error-codes");
    assert_eq!(
        links("see [a](b.md#c) and `[x](y)`\n```\n[no](z)\n```\n"),
        vec!["b.md#c"]
    );
}
