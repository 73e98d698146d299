//! Whether runs can end: every step must be able to reach a finish; steps the first
//! cannot reach are reported as warnings.

use std::collections::{BTreeMap, VecDeque};

use super::super::conditions::Goto;
use super::super::definition::Step;
use super::super::problem::ProblemKind;
use super::Validator;

impl Validator {
    pub(super) fn graph(&mut self, steps: &[Step]) {
        let successors = successors(steps);
        let can_finish = can_finish(steps, &successors);
        let reached = reached_from_first(&successors);
        for (i, step) in steps.iter().enumerate() {
            if !can_finish[i] {
                self.problem(Some(step.name()), ProblemKind::NoReachableFinish);
            }
            if !reached[i] {
                self.problem(Some(step.name()), ProblemKind::Unreachable);
            }
        }
    }
}

/// The steps each step may go to, by index.
fn successors(steps: &[Step]) -> Vec<Vec<usize>> {
    let index: BTreeMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name(), i))
        .collect();
    steps
        .iter()
        .map(|s| {
            s.targets()
                .into_iter()
                .filter_map(|g| match g {
                    Goto::Step(name) => index.get(name.as_str()).copied(),
                    Goto::Finish => None,
                })
                .collect()
        })
        .collect()
}

/// Which steps can reach a finish: those that finish themselves, then, until nothing
/// changes, those that go to one that can.
fn can_finish(steps: &[Step], successors: &[Vec<usize>]) -> Vec<bool> {
    let mut can_finish: Vec<bool> = steps
        .iter()
        .map(|s| !s.awaits_reply() || s.targets().contains(&&Goto::Finish))
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..steps.len() {
            if !can_finish[i] && successors[i].iter().any(|&j| can_finish[j]) {
                can_finish[i] = true;
                changed = true;
            }
        }
    }
    can_finish
}

/// Which steps a run from the first step can reach (breadth first).
fn reached_from_first(successors: &[Vec<usize>]) -> Vec<bool> {
    let mut reached = vec![false; successors.len()];
    let mut queue = VecDeque::from([0]);
    reached[0] = true;
    while let Some(i) = queue.pop_front() {
        for &j in &successors[i] {
            if !reached[j] {
                reached[j] = true;
                queue.push_back(j);
            }
        }
    }
    reached
}
