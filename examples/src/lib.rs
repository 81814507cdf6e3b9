//! The controller binaries assembled from the workspace's libraries (to come: see the issues).
#![forbid(unsafe_code)]
