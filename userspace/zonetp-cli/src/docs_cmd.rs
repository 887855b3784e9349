//! `zonetp generate-docs DIR` (hidden): the man pages and the shell
//! completions, generated from the clap definitions so they never drift
//! from the command itself. `make docs` and `make install` run it.

use std::fs;
use std::path::{Path, PathBuf};

use clap::{Args, Command};
use clap_complete::Shell;
use zonetp::Error;

use crate::failure::CmdResult;

#[derive(Args)]
pub struct GenerateDocs {
    /// Directory to write into: man/zonetp.1, man/zonetp-VERB.1 ... and
    /// completions/zonetp.bash, completions/_zonetp, completions/zonetp.fish.
    #[arg(value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// The shells `make install` installs completions for.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

pub fn run(cmd: Command, a: GenerateDocs) -> CmdResult {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        Error::Invalid(format!("cannot write {what} into {}: {e}", path.display()))
    };
    let man = a.out_dir.join("man");
    let completions = a.out_dir.join("completions");
    for dir in [&man, &completions] {
        fs::create_dir_all(dir).map_err(|e| fail("documentation", dir, e))?;
    }
    let mut cmd = public(cmd);
    clap_mangen::generate_to(cmd.clone(), &man).map_err(|e| fail("man pages", &man, e))?;
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut cmd, "zonetp", &completions)
            .map_err(|e| fail("completions", &completions, e))?;
    }
    Ok(())
}

/// The command as users see it: clap_complete lists hidden subcommands
/// (this one) and clap has no way to remove one, so the top level is
/// rebuilt from the visible parts.
pub fn public(full: Command) -> Command {
    let mut cmd = Command::new("zonetp")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
        .subcommand_required(true)
        .max_term_width(100);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    if let Some(about) = full.get_long_about() {
        cmd = cmd.long_about(about.clone());
    }
    if let Some(after) = full.get_after_help() {
        cmd = cmd.after_help(after.clone());
    }
    for arg in full.get_arguments().filter(|a| !a.is_hide_set()) {
        cmd = cmd.arg(arg.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every visible command below the top, with its path (`zonetp timeout add`).
    fn leaves(cmd: &Command, path: &str, out: &mut Vec<(String, Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let p = format!("{path} {}", sub.get_name());
            if sub.has_subcommands() {
                leaves(sub, &p, out);
            } else {
                out.push((p, sub.clone()));
            }
        }
    }

    fn all_leaves() -> Vec<(String, Command)> {
        let mut cmd = public(crate::Cli::command());
        cmd.build();
        let mut out = Vec::new();
        leaves(&cmd, "zonetp", &mut out);
        out
    }

    #[test]
    fn every_argument_has_help() {
        let mut missing = Vec::new();
        let mut cmd = crate::Cli::command();
        cmd.build();
        let top = std::iter::once(("zonetp".to_owned(), cmd.clone()));
        for (path, c) in top.chain(all_leaves()) {
            for arg in c.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    /// Examples sit after the help, under "Examples:", one command a line,
    /// each a zonetp command line of that very verb.
    #[test]
    fn every_command_has_examples_one_per_line() {
        for (path, c) in all_leaves() {
            let after = c.get_after_help().map(|s| s.to_string()).unwrap_or_default();
            let mut lines = after.lines();
            assert_eq!(lines.next(), Some("Examples:"), "{path}: after_help must start with Examples:");
            let examples: Vec<&str> = lines.collect();
            assert!(!examples.is_empty(), "{path}: no examples");
            for e in examples {
                let e = e.strip_prefix("  ").unwrap_or_else(|| panic!("{path}: example not indented: {e:?}"));
                let e = e.split("  #").next().unwrap().trim_end();
                let words: Vec<&str> = e.split_whitespace().collect();
                let verb: Vec<&str> = path.split(' ').collect();
                let wanted = |w: &&str| !w.starts_with("--");
                let given: Vec<&str> = words.iter().copied().filter(wanted).take(verb.len()).collect();
                assert_eq!(given, verb, "{path}: example {e:?} is not a {path} command");
                // Parsed by the real parser: an example must be a valid command line.
                let argv: Vec<std::ffi::OsString> = shell_words(e).into_iter().map(Into::into).collect();
                if let Err(err) = crate::Cli::command().try_get_matches_from(crate::ovs_vsctl_order(argv)) {
                    panic!("{path}: example {e:?} does not parse: {err}");
                }
            }
        }
    }

    /// Splits on spaces, keeping "double-quoted" words whole.
    fn shell_words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in s.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    #[test]
    fn man_pages_and_completions_cover_every_verb() {
        let dir = std::env::temp_dir().join(format!("zonetp-docs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        run(crate::Cli::command(), GenerateDocs { out_dir: dir.clone() }).unwrap();
        let read = |p: &str| fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let top = read("man/zonetp.1");
        assert!(top.starts_with(".ie \\n(.g .ds Aq") || top.contains(".TH zonetp 1"), "{top}");
        let bash = read("completions/zonetp.bash");
        let zsh = read("completions/_zonetp");
        let fish = read("completions/zonetp.fish");
        for (path, _) in all_leaves() {
            let page = format!("man/{}.1", path.replace(' ', "-"));
            let man = read(&page);
            assert!(man.contains(".SH EXAMPLES") || man.contains("Examples:"), "{page} has no examples");
            let verb = path.rsplit(' ').next().unwrap();
            for (shell, text) in [("bash", &bash), ("zsh", &zsh), ("fish", &fish)] {
                assert!(text.contains(verb), "{shell} completion lacks {path}");
            }
        }
        let first = path_first_verbs();
        for verb in &first {
            assert!(top.contains(&format!("zonetp\\-{}", verb.replace('-', "\\-"))), "zonetp.1 lacks {verb}");
        }
        for text in [&bash, &zsh, &fish] {
            assert!(!text.contains("generate-docs"), "the hidden command stays out of completions");
        }
        assert!(!dir.join("man/zonetp-generate-docs.1").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    fn path_first_verbs() -> Vec<String> {
        public(crate::Cli::command()).get_subcommands().map(|s| s.get_name().to_owned()).collect()
    }
}
