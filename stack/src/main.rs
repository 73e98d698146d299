//! `smsflow-stack`: runs template.yaml's stack on one machine (see README "Stack runner").

fn main() {}
