//! Gauntlet's own container image (SPEC §13): `FROM scratch`, the running binary and the shared
//! libraries it links (found with `ldd`), built locally through the engine (no registry), tagged
//! `gauntlet:<version>-<digest of the binary>` so a rebuilt binary gets a new image and an
//! unchanged one is never built twice.
//!
//! ```text
//!   current_exe ──► sha256 ──► tag ──► present in the engine? ──yes──► done (cached)
//!                └► ldd ──► rootfs/<same absolute paths> ──► GenericBuildableImage ──► engine
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use testcontainers::core::build::build_options::BuildImageOptions;
use testcontainers::runners::AsyncBuilder;
use testcontainers::GenericBuildableImage;

use super::engine::Engine;
use crate::clock::Stopwatch;

/// The repository name of Gauntlet's image.
pub const REPOSITORY: &str = "gauntlet";
/// The image's layout beside the binary; part of the digest, so a changed layout is rebuilt.
const LAYOUT: &str = "scratch; /gauntlet; /etc/gauntlet/stack/; /tmp/; v1";
/// Where the binary sits in the image (its entrypoint).
pub const BINARY: &str = "/gauntlet";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read the gauntlet binary {path}: {source}")]
    Binary {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot list the shared libraries of {path} with ldd: {reason}")]
    Ldd { path: PathBuf, reason: String },
    #[error("the engine could not build image {tag}: {reason}")]
    Build { tag: String, reason: String },
}

/// A built (or found) image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub name: String,
    pub tag: String,
    /// False when the image was already present.
    pub built: bool,
    pub took: Duration,
}

impl BuiltImage {
    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }
}

/// A binary as its tag is remembered: path, size, modification time.
type BinaryKey = (PathBuf, u64, std::time::SystemTime);

/// The tag for `binary`: the Gauntlet version and the first 12 hex digits of its SHA-256.
///
/// # Errors
/// The binary cannot be read.
pub fn tag_for(binary: &Path) -> Result<String, ImageError> {
    // Hashing a debug binary takes about half a second: once per binary (path, size and
    // modification time) and process.
    static TAGS: std::sync::Mutex<Vec<(BinaryKey, String)>> = std::sync::Mutex::new(Vec::new());
    let key = std::fs::metadata(binary)
        .ok()
        .and_then(|m| Some((binary.to_path_buf(), m.len(), m.modified().ok()?)));
    if let (Some(key), Ok(tags)) = (&key, TAGS.lock()) {
        if let Some((_, tag)) = tags.iter().find(|(k, _)| k == key) {
            return Ok(tag.clone());
        }
    }
    let tag = digest_tag(binary)?;
    if let (Some(key), Ok(mut tags)) = (key, TAGS.lock()) {
        tags.push((key, tag.clone()));
    }
    Ok(tag)
}

fn digest_tag(binary: &Path) -> Result<String, ImageError> {
    let bytes = std::fs::read(binary).map_err(|source| ImageError::Binary {
        path: binary.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    hasher.update(LAYOUT.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{hex}", env!("CARGO_PKG_VERSION")))
}

/// The binary of this process, or `GAUNTLET_IMAGE_BINARY` when set (tests point it at the
/// gauntlet binary cargo built).
pub fn own_binary() -> Result<PathBuf, ImageError> {
    if let Some(path) = std::env::var_os("GAUNTLET_IMAGE_BINARY") {
        return Ok(PathBuf::from(path));
    }
    std::env::current_exe().map_err(|source| ImageError::Binary {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })
}

/// Builds the image of `binary` unless the engine already has it (`force` rebuilds).
///
/// # Errors
/// The binary or its libraries cannot be read, or the engine refuses the build.
pub async fn ensure(engine: &Engine, binary: &Path, force: bool) -> Result<BuiltImage, ImageError> {
    let stopwatch = Stopwatch::start();
    let tag = tag_for(binary)?;
    let reference = format!("{REPOSITORY}:{tag}");
    if !force && engine.docker.inspect_image(&reference).await.is_ok() {
        return Ok(BuiltImage {
            name: REPOSITORY.into(),
            tag,
            built: false,
            took: stopwatch.elapsed(),
        });
    }
    build_scratch(
        binary,
        BINARY,
        &[BINARY],
        &reference,
        &[super::role::STACK_DIR, "/tmp"],
        force,
    )
    .await?;
    remove_older(engine, &reference).await;
    Ok(BuiltImage {
        name: REPOSITORY.into(),
        tag,
        built: true,
        took: stopwatch.elapsed(),
    })
}

/// Removes the images of earlier Gauntlet binaries (each rebuilt binary gets a new tag): every
/// `gauntlet:*` but `keep`. One a container still uses stays (the engine refuses).
async fn remove_older(engine: &Engine, keep: &str) {
    use testcontainers::bollard::query_parameters::{
        ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
    };
    let filters = std::collections::HashMap::from([(
        "reference".to_string(),
        vec![format!("{REPOSITORY}:*")],
    )]);
    let Ok(images) = engine
        .docker
        .list_images(Some(
            ListImagesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
    else {
        return;
    };
    for image in images {
        for tag in image.repo_tags.iter().filter(|t| t.as_str() != keep) {
            if tag.starts_with(&format!("{REPOSITORY}:")) {
                let options = RemoveImageOptionsBuilder::new().build();
                let _ = engine.docker.remove_image(tag, Some(options), None).await;
            }
        }
    }
}

/// Builds `reference` (`name:tag`) locally: `FROM scratch`, `binary` at `inside` with the shared
/// libraries it links, empty `folders`, labelled `gauntlet.managed=true`, and `entrypoint`. No
/// registry is involved.
///
/// # Errors
/// The binary or its libraries cannot be read, or the engine refuses the build.
pub async fn build_scratch(
    binary: &Path,
    inside: &str,
    entrypoint: &[&str],
    reference: &str,
    folders: &[&str],
    force: bool,
) -> Result<(), ImageError> {
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    let libraries = shared_libraries(binary)?;
    let mut image = GenericBuildableImage::new(name, tag);
    for library in &libraries {
        let source = std::fs::canonicalize(library).unwrap_or_else(|_| library.clone());
        let path = library.display().to_string();
        image = image.with_file(source, format!("rootfs{path}"));
    }
    image = image.with_file(binary.to_path_buf(), format!("rootfs{inside}"));
    // The folders the containers use (a scratch image has none).
    for folder in folders {
        image = image.with_data(Vec::new(), format!("rootfs{folder}/.keep"));
    }
    let entrypoint = serde_json::to_string(entrypoint).unwrap_or_else(|_| "[]".into());
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nLABEL gauntlet.managed=true gauntlet.version={}\nENTRYPOINT {entrypoint}\n",
        env!("CARGO_PKG_VERSION")
    );
    image = image.with_dockerfile_string(dockerfile);
    let _built = image
        .build_image_with(BuildImageOptions::new().with_skip_if_exists(!force))
        .await
        .map_err(|e| ImageError::Build {
            tag: reference.to_string(),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// The absolute paths of the shared libraries `binary` links, its loader included (none for a
/// static binary).
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let error = |reason: String| ImageError::Ldd {
        path: binary.to_path_buf(),
        reason,
    };
    let output = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| error(e.to_string()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // `ldd` says "not a dynamic executable" for a static binary: nothing to copy.
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("not a dynamic executable") || text.contains("statically linked") {
            return Ok(Vec::new());
        }
        return Err(error(stderr.trim().to_string()));
    }
    Ok(parse_ldd(&text))
}

/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`
/// give their absolute paths; the vDSO has none.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_every_library_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f08)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f08)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f08)\n";
        assert_eq!(
            parse_ldd(text),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn the_tag_names_the_version_and_the_binary_digest() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"one").unwrap();
        let tag = tag_for(&a).unwrap();
        assert!(tag.starts_with(concat!(env!("CARGO_PKG_VERSION"), "-")));
        assert_eq!(tag.len(), env!("CARGO_PKG_VERSION").len() + 13);
        // Another size: the tag is remembered by path, size and modification time.
        std::fs::write(&a, b"three").unwrap();
        assert_ne!(tag_for(&a).unwrap(), tag);
    }
}
