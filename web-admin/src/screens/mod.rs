//! The HTML screens (Dutch), one file per screen. Screens call the case service
//! (`crate::cases`) and the shared views; they never import from one another.

pub mod admin;
pub mod case;
pub mod figures;
pub mod login;
pub mod migration;
pub mod pathways;
pub mod residents;
pub mod retention;
pub mod task;
pub mod tasks;

use crate::error::WebError;

pub async fn not_found() -> WebError {
    WebError::NotFound
}
