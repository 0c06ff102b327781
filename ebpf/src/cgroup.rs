//! cgroup v2: where the hierarchy is mounted, whether a directory is in it, and a
//! directory's cgroup id (what `bpf_skb_cgroup_id` returns for its sockets).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// `CGROUP2_SUPER_MAGIC` (include/uapi/linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Where cgroup v2 is mounted, from /proc/self/mountinfo text: the first mount whose
/// filesystem type (the first field after the ` - ` separator) is `cgroup2`.
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        if filesystem.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        // id parent major:minor root mount-point options [optional fields]
        let mount_point = mount.split_whitespace().nth(4)?;
        Some(PathBuf::from(unescape_octal(mount_point)))
    })
}

/// The live mount point of cgroup v2, if any.
pub fn live_cgroup2_mount() -> Option<PathBuf> {
    cgroup2_mount(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes.get(index + 1..index + 4);
        let value = octal
            .filter(|digits| {
                bytes[index] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d))
            })
            .map(|digits| {
                digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'))
            });
        match value {
            Some(value) if value <= 0xff => {
                out.push(value as u8);
                index += 4;
            }
            _ => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is a directory on a cgroup2 filesystem.
pub(crate) fn is_cgroup2_dir(path: &Path) -> io::Result<bool> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid C string and stat a writable statfs.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    Ok(stat.f_type as i64 == CGROUP2_SUPER_MAGIC)
}

/// The cgroup v2 id of a cgroup directory: its inode number on cgroup2 (kernfs node id).
pub fn cgroup_id(path: &Path) -> io::Result<u64> {
    Ok(std::fs::metadata(path)?.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's hybrid layout: v1 controllers under /sys/fs/cgroup, v2 at .../unified.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// The unified layout, with optional fields before the separator.
    const UNIFIED: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
26 23 0:25 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:10 - bpf bpf rw,mode=700
";

    #[test]
    fn finds_cgroup2_in_the_hybrid_layout() {
        assert_eq!(
            cgroup2_mount(HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn finds_cgroup2_in_the_unified_layout() {
        assert_eq!(
            cgroup2_mount(UNIFIED),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn v1_only_or_empty_text_has_no_cgroup2() {
        let v1_only: String = HYBRID.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(cgroup2_mount(&v1_only), None);
        assert_eq!(cgroup2_mount(""), None);
        // A cgroup2 *source* named in a non-cgroup2 mount is not a cgroup2 mount.
        assert_eq!(
            cgroup2_mount("50 1 0:40 / /mnt rw - tmpfs cgroup2 rw\n"),
            None
        );
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(
            cgroup2_mount("60 1 0:41 / /mnt/my\\040cgroups rw - cgroup2 none rw\n"),
            Some(PathBuf::from("/mnt/my cgroups"))
        );
    }

    #[test]
    fn this_host_has_its_cgroup2_mount_on_cgroup2() {
        let mount = live_cgroup2_mount().expect("the test hosts mount cgroup v2");
        assert!(is_cgroup2_dir(&mount).unwrap(), "{}", mount.display());
        assert!(!is_cgroup2_dir(Path::new("/proc")).unwrap());
        assert!(cgroup_id(&mount).unwrap() > 0);
    }
}
