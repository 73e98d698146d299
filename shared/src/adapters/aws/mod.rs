pub mod ses;
