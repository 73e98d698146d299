//! A condition's test: words to match, or a number compared with bounds.

use super::super::conditions::{Bound, Operand, Pattern, Test};
use super::super::fields::ContactField;
use super::super::file::{BetweenFile, ConditionFile, HasReceivedFile, NumberOrField};
use super::super::problem::ProblemKind;
use super::Validator;
use crate::domain::received::{FilterWords, ReceivedFilter};

/// The two keys of one side of a `between` (exactly one must be given) and what to say
/// when that is not so.
struct BoundKeys<'a> {
    exclusive: &'a Option<NumberOrField>,
    inclusive: &'a Option<NumberOrField>,
    missing: &'static str,
    both: &'static str,
}

impl Validator {
    pub(super) fn test(
        &mut self,
        at: Option<&str>,
        condition: usize,
        c: &ConditionFile,
    ) -> Option<Test> {
        if let Some(words) = &c.equals_any {
            return self.equals_any(at, condition, words);
        }
        if let Some(value) = &c.less_than {
            return self.operand(at, condition, value).map(Test::LessThan);
        }
        if let Some(value) = &c.greater_than {
            return self.operand(at, condition, value).map(Test::GreaterThan);
        }
        if let Some(filters) = &c.has_received {
            return self.has_received(at, condition, filters);
        }
        c.between
            .as_ref()
            .and_then(|b| self.between(at, condition, b))
    }

    fn has_received(
        &mut self,
        at: Option<&str>,
        condition: usize,
        filters: &HasReceivedFile,
    ) -> Option<Test> {
        let within_days = filters.within_days.map(|n| n.to_string());
        let words = FilterWords {
            kinds: filters.kinds.iter().map(String::as_str).collect(),
            campaign: filters.campaign.as_deref(),
            status: filters.status.as_deref(),
            since: filters.since.as_deref(),
            within_days: within_days.as_deref(),
        };
        match ReceivedFilter::parse(&words) {
            Ok(filter) => Some(Test::HasReceived(filter)),
            Err(reason) => {
                self.problem(at, ProblemKind::BadReceivedFilter { condition, reason });
                None
            }
        }
    }

    fn equals_any(&mut self, at: Option<&str>, condition: usize, words: &[String]) -> Option<Test> {
        if words.is_empty() {
            self.problem(at, ProblemKind::EmptyEqualsAny { condition });
            return None;
        }
        let mut patterns = Vec::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            match Pattern::parse(word) {
                Ok(p) => patterns.push(p),
                Err(_) => self.problem(
                    at,
                    ProblemKind::EmptyPattern {
                        condition,
                        index: i + 1,
                    },
                ),
            }
        }
        (patterns.len() == words.len()).then_some(Test::EqualsAny(patterns))
    }

    fn operand(
        &mut self,
        at: Option<&str>,
        condition: usize,
        value: &NumberOrField,
    ) -> Option<Operand> {
        let malformed = |value: String| ProblemKind::MalformedNumber { condition, value };
        match value {
            NumberOrField::Number(n) if n.is_finite() => Some(Operand::Number(*n)),
            NumberOrField::Number(n) => {
                self.problem(at, malformed(n.to_string()));
                None
            }
            NumberOrField::Text(text) => match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Some(Operand::Number(n)),
                _ => {
                    self.problem(at, malformed(text.clone()));
                    None
                }
            },
            NumberOrField::Field { field } => match ContactField::parse(field) {
                Ok(field) => Some(Operand::Field(field)),
                Err(reason) => {
                    self.problem(at, ProblemKind::BadField { condition, reason });
                    None
                }
            },
        }
    }

    /// Both bounds' keys first, then their values, then whether any number lies between.
    fn between(&mut self, at: Option<&str>, condition: usize, b: &BetweenFile) -> Option<Test> {
        let lower = self.bound_key(
            at,
            condition,
            BoundKeys {
                exclusive: &b.above,
                inclusive: &b.at_least,
                missing: "a lower bound: above or at_least",
                both: "one lower bound, not both above and at_least",
            },
        );
        let upper = self.bound_key(
            at,
            condition,
            BoundKeys {
                exclusive: &b.below,
                inclusive: &b.at_most,
                missing: "an upper bound: below or at_most",
                both: "one upper bound, not both below and at_most",
            },
        );
        let lower = lower.and_then(|(v, inclusive)| self.bound(at, condition, v, inclusive));
        let upper = upper.and_then(|(v, inclusive)| self.bound(at, condition, v, inclusive));
        let (lower, upper) = (lower?, upper?);
        self.non_empty_between(at, condition, lower, upper)
    }

    /// The one key given for a bound, and whether it is inclusive.
    fn bound_key<'a>(
        &mut self,
        at: Option<&str>,
        condition: usize,
        keys: BoundKeys<'a>,
    ) -> Option<(&'a NumberOrField, bool)> {
        let need = match (keys.exclusive, keys.inclusive) {
            (Some(v), None) => return Some((v, false)),
            (None, Some(v)) => return Some((v, true)),
            (None, None) => keys.missing,
            (Some(_), Some(_)) => keys.both,
        };
        self.problem(at, ProblemKind::BetweenBounds { condition, need });
        None
    }

    fn bound(
        &mut self,
        at: Option<&str>,
        condition: usize,
        value: &NumberOrField,
        inclusive: bool,
    ) -> Option<Bound> {
        self.operand(at, condition, value)
            .map(|operand| Bound { operand, inclusive })
    }

    /// Refuses bounds between which no number lies (known only when both are numbers).
    fn non_empty_between(
        &mut self,
        at: Option<&str>,
        condition: usize,
        lower: Bound,
        upper: Bound,
    ) -> Option<Test> {
        if let (Operand::Number(l), Operand::Number(u)) = (&lower.operand, &upper.operand) {
            let empty = l > u || (l == u && !(lower.inclusive && upper.inclusive));
            if empty {
                self.problem(
                    at,
                    ProblemKind::InvertedBetween {
                        condition,
                        lower: format!("{} {l}", if lower.inclusive { ">=" } else { ">" }),
                        upper: format!("{} {u}", if upper.inclusive { "<=" } else { "<" }),
                    },
                );
                return None;
            }
        }
        Some(Test::Between { lower, upper })
    }
}
