//! The functions' logs, under Lambda's logging controls: `AWS_LAMBDA_LOG_LEVEL` (the
//! template's `LogLevel`) sets the level and `AWS_LAMBDA_LOG_FORMAT=JSON` makes each line a
//! JSON object, as lambda_runtime's default subscriber does. Without Lambda's level,
//! `RUST_LOG` may name levels per target (`info,smsflow_shared=debug`). The filter is a static
//! per-target one rather than `EnvFilter`, whose span-field matching no function uses and whose
//! regexes would be linked into every binary (BENCHMARKS.md, "Binary size").

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the process's subscriber once, at the start of `main`.
pub fn init() {
    let filter = filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .without_time()
        .with_ansi(colour(std::io::stdout().is_terminal()));
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(lines.json()).init();
    } else {
        registry.with(lines).init();
    }
}

/// Whether log lines to a stream may carry ANSI colours: only on a terminal (CloudWatch and
/// a redirected file get plain text), and never when `NO_COLOR` is set to anything.
pub fn colour(stream_is_terminal: bool) -> bool {
    colour_when(stream_is_terminal, std::env::var_os("NO_COLOR").as_deref())
}

fn colour_when(stream_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stream_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Lambda's level when set (its `FATAL` is tracing's `ERROR`), else `RUST_LOG`'s targets, else
/// `INFO`; targets `RUST_LOG` does not name log at `INFO`.
fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    if let Some(level) = lambda_level {
        let level = match level {
            fatal if fatal.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
            other => other.parse().unwrap_or(LevelFilter::INFO),
        };
        return Targets::new().with_default(level);
    }
    let targets = rust_log
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_default();
    match targets.default_level() {
        Some(_) => targets,
        None => targets.with_default(LevelFilter::INFO),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::{colour_when, filter};

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let set = std::ffi::OsStr::new("1");
        let empty = std::ffi::OsStr::new("");
        // (stream is a terminal, NO_COLOR, colour)
        let cases = [
            (true, None, true),
            (false, None, false),
            (true, Some(set), false),
            (false, Some(set), false),
            (true, Some(empty), true),
        ];
        for (terminal, no_color, expected) in cases {
            assert_eq!(
                colour_when(terminal, no_color),
                expected,
                "{terminal} {no_color:?}"
            );
        }
    }

    #[test]
    fn the_level_comes_from_lambda_then_rust_log_then_info() {
        // (AWS_LAMBDA_LOG_LEVEL, RUST_LOG, target, level, logged)
        let cases = [
            (None, None, "app", Level::INFO, true),
            (None, None, "app", Level::DEBUG, false),
            (Some("DEBUG"), None, "app", Level::DEBUG, true),
            (Some("WARN"), Some("debug"), "app", Level::INFO, false),
            (Some("FATAL"), None, "app", Level::ERROR, true),
            (Some("FATAL"), None, "app", Level::WARN, false),
            (Some("loud"), None, "app", Level::INFO, true),
            (Some("loud"), None, "app", Level::DEBUG, false),
            (None, Some("debug"), "hyper", Level::DEBUG, true),
            (None, Some("app=debug"), "app", Level::DEBUG, true),
            (None, Some("app=debug"), "hyper", Level::INFO, true),
            (None, Some("app=debug"), "hyper", Level::DEBUG, false),
            (None, Some("warn,app=trace"), "hyper", Level::INFO, false),
            (
                None,
                Some("warn,app=trace"),
                "app::store",
                Level::TRACE,
                true,
            ),
            (None, Some("=,=nonsense"), "app", Level::INFO, true),
        ];
        for (lambda, rust_log, target, level, logged) in cases {
            assert_eq!(
                filter(lambda, rust_log).would_enable(target, &level),
                logged,
                "AWS_LAMBDA_LOG_LEVEL={lambda:?} RUST_LOG={rust_log:?}: {target} at {level}"
            );
        }
    }
}
