
pub mod wiring;
