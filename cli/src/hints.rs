//! Commands named in hints carry the target flags the user typed (`--config PATH`, `--aws`,
//! `--stack NAME`, `--profile NAME`, `--region REGION`), so a hint copied into the shell
//! acts where the command that printed it did. Every word of a hint is quoted for the shell
//! where it needs it (a phone typed as `(415) 555-0111`, a path with a space), so a hint
//! pastes as printed.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::ArgMatches;
use clap::parser::ValueSource;

/// The target flags of the command line, as typed (a value from SMSFLOW_CONFIG or a default
/// is not: the shell that ran the command supplies it again).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypedTarget {
    pub config: Option<String>,
    pub aws: bool,
    pub stack: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
}

static TYPED: OnceLock<TypedTarget> = OnceLock::new();

impl TypedTarget {
    /// The flags given to the innermost subcommand of `matches` (where clap puts them).
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let mut leaf = matches;
        while let Some((_, sub)) = leaf.subcommand() {
            leaf = sub;
        }
        // `try_contains_id` first: `value_source` panics on an id the command lacks.
        let typed = |id: &str| {
            leaf.try_contains_id(id).unwrap_or(false)
                && leaf.value_source(id) == Some(ValueSource::CommandLine)
        };
        let text = |id: &str| {
            typed(id)
                .then(|| leaf.try_get_one::<String>(id).ok().flatten().cloned())
                .flatten()
        };
        let config = typed("config")
            .then(|| leaf.try_get_one::<PathBuf>("config").ok().flatten())
            .flatten()
            .map(|p| p.display().to_string());
        TypedTarget {
            config,
            aws: typed("aws"),
            stack: text("stack"),
            profile: text("profile"),
            region: text("region"),
        }
    }

    /// The flags as they go on a command line, each preceded by a space; `aws_too`: the
    /// AWS ones as well (not for `serve` or `check-config`, which only read the file).
    pub fn flags(&self, aws_too: bool) -> String {
        let mut out = String::new();
        let mut push = |flag: &str, value: Option<&str>| {
            out.push_str(" --");
            out.push_str(flag);
            if let Some(value) = value {
                out.push(' ');
                out.push_str(&shell_word(value));
            }
        };
        if let Some(config) = &self.config {
            push("config", Some(config));
        }
        if aws_too {
            if self.aws {
                push("aws", None);
            }
            for (flag, value) in [
                ("stack", &self.stack),
                ("profile", &self.profile),
                ("region", &self.region),
            ] {
                if let Some(value) = value {
                    push(flag, Some(value));
                }
            }
        }
        out
    }
}

/// Remembers the flags of this run (once, in `main`).
pub fn remember(typed: TypedTarget) {
    // A second call would be a bug in main; the first value stays.
    let _ = TYPED.set(typed);
}

fn typed() -> &'static TypedTarget {
    TYPED.get_or_init(TypedTarget::default)
}

/// `` `smsflow WORDS` `` with the target flags of this run, for a command that takes them all.
pub fn command(words: &[&str]) -> String {
    rendered(words, &typed().flags(true))
}

/// `` `smsflow WORDS` `` with `--config` as typed, for `serve` and `check-config`.
pub fn local_command(words: &[&str]) -> String {
    rendered(words, &typed().flags(false))
}

/// The command line in backquotes, each word quoted for the shell where it needs it.
fn rendered(words: &[&str], flags: &str) -> String {
    let words: Vec<String> = words.iter().map(|word| shell_word(word)).collect();
    format!("`smsflow {}{flags}`", words.join(" "))
}

/// `value` as one shell word: as is when it holds only characters the shell leaves alone,
/// else in single quotes.
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches};

    use super::*;
    use crate::Cli;

    fn typed_of(args: &[&str]) -> TypedTarget {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("smsflow").chain(args.iter().copied()))
            .expect("the arguments parse");
        Cli::from_arg_matches(&matches).expect("into the CLI");
        TypedTarget::from_matches(&matches)
    }

    #[test]
    fn quotes_each_word_that_the_shell_would_read_otherwise() {
        let cases: &[(&[&str], &str)] = &[
            (&["accounts", "list"], "`smsflow accounts list`"),
            (
                &["conversations", "show", "--account", "acme", "+14155550111"],
                "`smsflow conversations show --account acme +14155550111`",
            ),
            (
                &[
                    "conversations",
                    "show",
                    "--account",
                    "acme",
                    "(415) 555-0111",
                ],
                "`smsflow conversations show --account acme '(415) 555-0111'`",
            ),
            (
                &["sequences", "apply", "my seq.toml"],
                "`smsflow sequences apply 'my seq.toml'`",
            ),
            (
                &["users", "list", "--account", "o'neil"],
                r"`smsflow users list --account 'o'\''neil'`",
            ),
            (
                &["dlq", "list", "--queue", "a;rm -rf ~"],
                "`smsflow dlq list --queue 'a;rm -rf ~'`",
            ),
            (&["send", "--message", ""], "`smsflow send --message ''`"),
        ];
        for (words, expected) in cases {
            assert_eq!(rendered(words, ""), *expected, "{words:?}");
        }
        assert_eq!(
            rendered(&["dlq", "list"], " --config x.toml"),
            "`smsflow dlq list --config x.toml`"
        );
    }

    #[test]
    fn renders_the_target_flags_as_typed() {
        let cases: &[(&[&str], &str, &str)] = &[
            // (command line, flags for every command, flags for serve/check-config)
            (&["users", "list", "--account", "acme"], "", ""),
            (
                &["users", "list", "--account", "acme", "--config", "x.toml"],
                " --config x.toml",
                " --config x.toml",
            ),
            (
                &[
                    "dlq",
                    "list",
                    "--queue",
                    "send",
                    "-c",
                    "/etc/smsflow/a b.toml",
                ],
                " --config '/etc/smsflow/a b.toml'",
                " --config '/etc/smsflow/a b.toml'",
            ),
            (
                &["numbers", "list", "--account", "acme", "--aws"],
                " --aws",
                "",
            ),
            (
                &[
                    "dlq",
                    "list",
                    "--queue",
                    "send",
                    "--stack",
                    "prod",
                    "--region",
                    "eu-west-1",
                ],
                " --stack prod --region eu-west-1",
                "",
            ),
            (
                &[
                    "send",
                    "--account",
                    "a",
                    "--to",
                    "+1",
                    "--user",
                    "u",
                    "--message",
                    "hi",
                    "--profile",
                    "ops",
                    "--aws",
                ],
                " --aws --profile ops",
                "",
            ),
            (
                &["check-config", "--config", "o'neil.toml"],
                r" --config 'o'\''neil.toml'",
                r" --config 'o'\''neil.toml'",
            ),
            (&["keygen"], "", ""),
        ];
        for (args, all, local) in cases {
            let typed = typed_of(args);
            assert_eq!(typed.flags(true), *all, "{args:?}");
            assert_eq!(typed.flags(false), *local, "{args:?}");
        }
    }
}
