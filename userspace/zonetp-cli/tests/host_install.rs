//! `make install`: the binary, the man pages and the bash, zsh and fish
//! completions land under DESTDIR/PREFIX, and they work: the man page
//! renders with man(1), bash loads the completion and completes verbs.

mod common;

use std::path::Path;

use common::*;

#[test]
fn make_install_puts_binary_man_pages_and_completions_under_destdir_prefix() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dest = std::env::temp_dir().join(format!("zonetp-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let out = tool_ok(
        "make",
        &[
            "-s",
            "-C",
            repo.to_str().unwrap(),
            "install",
            &format!("DESTDIR={}", dest.display()),
            "PREFIX=/opt/zonetp",
            concat!("ZONETP_BIN=", env!("CARGO_BIN_EXE_zonetp")),
        ],
    );
    let root = dest.join("opt/zonetp");
    for f in [
        "bin/zonetp",
        "share/man/man1/zonetp.1",
        "share/man/man1/zonetp-status.1",
        "share/man/man1/zonetp-set-dp.1",
        "share/man/man1/zonetp-timeout-add.1",
        "share/man/man1/zonetp-dp-flow-add.1",
        "share/bash-completion/completions/zonetp",
        "share/zsh/site-functions/_zonetp",
        "share/fish/vendor_completions.d/zonetp.fish",
    ] {
        assert!(root.join(f).is_file(), "{f} not installed: {out}");
    }
    assert!(!root.join("share/man/man1/zonetp-generate-docs.1").exists());
    let version = tool_ok(root.join("bin/zonetp").to_str().unwrap(), &["--version"]);
    assert!(version.starts_with("zonetp "), "{version}");

    let page = root.join("share/man/man1/zonetp-add-zone-tp.1");
    let r = tool("man", &["-l", "-P", "cat", page.to_str().unwrap()]);
    assert_eq!(r.status, 0, "man -l: {}", r.stderr);
    assert!(
        r.stdout.contains("Examples:") && r.stdout.contains("zonetp add-zone-tp system zone=5"),
        "{}",
        r.stdout
    );

    // bash completes the verbs from the installed file.
    let script = format!(
        "source {}; COMP_WORDS=(zonetp st); COMP_CWORD=1; COMP_LINE='zonetp st'; COMP_POINT=9; \
         _zonetp zonetp st zonetp; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        root.join("share/bash-completion/completions/zonetp").display()
    );
    let words = tool_ok("bash", &["-c", &script]);
    assert_eq!(words.split_whitespace().collect::<Vec<_>>(), ["status"], "bash completion: {words}");
    let _ = std::fs::remove_dir_all(&dest);
}
