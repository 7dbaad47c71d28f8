//! The migrations are embedded by `sqlx::migrate!`; a new or changed file in
//! `migrations/` must rebuild the crate (the build script `sqlx migrate build-script` writes).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
