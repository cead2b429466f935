//! One file per subcommand: argument handling and printing only; the work is library calls.

pub mod bench;
pub mod embed;
pub mod eval;
pub mod generate;
pub mod inspect;
pub mod run;
pub mod t2l_pipeline;
pub mod train;
