//! Container image references, as the engine (`assert-deployments`) and the sandbox
//! (the API server's pull-policy default) read them.

/// The tag of an image reference: `reg:5000/a/b:v1@sha256:..` -> `v1`; `None` when
/// it names none (only a digest, or `latest` implied). The tag is what follows a `:`
/// in the last path component, a digest left aside (k8s.io/kubernetes v1.36.3
/// `pkg/util/parsers/parsers.go`).
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':').map(|(_, tag)| tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_from_any_image_reference() {
        assert_eq!(
            image_tag("ghcr.io/fluxcd/source-controller:v1.7.0"),
            Some("v1.7.0")
        );
        assert_eq!(image_tag("localhost:5000/a/b:v2@sha256:abc"), Some("v2"));
        assert_eq!(image_tag("localhost:5000/a/b"), None);
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("nginx@sha256:abc"), None);
    }
}
