//! Where a reply leads: a step, `finish`, or a decision among conditions with a fallback.

use std::collections::BTreeSet;

use super::super::conditions::{Condition, Goto};
use super::super::definition::Next;
use super::super::file::{ConditionFile, DecideFile, FINISH, NextFile};
use super::super::problem::ProblemKind;
use super::Validator;

impl Validator {
    pub(super) fn goto(
        &mut self,
        at: Option<&str>,
        place: &str,
        target: &str,
        names: &BTreeSet<String>,
    ) -> Option<Goto> {
        let target = target.trim();
        if target == FINISH {
            Some(Goto::Finish)
        } else if names.contains(target) {
            Some(Goto::Step(target.to_string()))
        } else {
            self.problem(
                at,
                ProblemKind::UnknownStep {
                    place: place.to_string(),
                    target: target.to_string(),
                },
            );
            None
        }
    }

    pub(super) fn next(
        &mut self,
        at: Option<&str>,
        next: Option<&NextFile>,
        below: Option<&str>,
        names: &BTreeSet<String>,
    ) -> Option<Next> {
        match next {
            None => match below {
                Some(below) => Some(Next::Goto(Goto::Step(below.to_string()))),
                None => {
                    self.problem(at, ProblemKind::LastStepWithoutNext);
                    None
                }
            },
            Some(NextFile::Goto(target)) => self.goto(at, "next", target, names).map(Next::Goto),
            Some(NextFile::Decide(decide)) => self.decide(at, decide, names),
        }
    }

    fn decide(
        &mut self,
        at: Option<&str>,
        decide: &DecideFile,
        names: &BTreeSet<String>,
    ) -> Option<Next> {
        let conditions: Vec<Option<Condition>> = decide
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| self.condition(at, i + 1, c, names))
            .collect();
        self.tag(at, "fallback_tag", decide.fallback_tag.as_deref());
        let fallback = match &decide.fallback {
            Some(target) => self.goto(at, "fallback", target, names),
            None => {
                self.problem(at, ProblemKind::MissingFallback);
                None
            }
        };
        Some(Next::Decide {
            conditions: conditions.into_iter().collect::<Option<Vec<_>>>()?,
            fallback: fallback?,
            fallback_tag: decide.fallback_tag.clone(),
        })
    }

    fn condition(
        &mut self,
        at: Option<&str>,
        condition: usize,
        c: &ConditionFile,
        names: &BTreeSet<String>,
    ) -> Option<Condition> {
        let found = [
            c.equals_any.is_some(),
            c.less_than.is_some(),
            c.greater_than.is_some(),
            c.between.is_some(),
            c.has_received.is_some(),
        ]
        .iter()
        .filter(|present| **present)
        .count();
        let test = if found == 1 {
            self.test(at, condition, c)
        } else {
            self.problem(at, ProblemKind::ConditionTests { condition, found });
            None
        };
        self.tag(at, &format!("condition {condition}: tag"), c.tag.as_deref());
        let goto = self.goto(at, &format!("condition {condition}: goto"), &c.goto, names);
        Some(Condition {
            test: test?,
            tag: c.tag.clone(),
            goto: goto?,
        })
    }
}
