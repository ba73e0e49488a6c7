import CSys
import DbgWire

/// Install and Remove, which can take minutes: they run on the distro thread, one at a
/// time, while the loop serves everyone else.
enum DistroJob {
    case install(InstallJob)
    case remove(RemoveJob)
    /// At start-up: what an agent that died during an Install or Remove left.
    case removeLeftovers(DistroRoot)

    /// Runs on the distro thread.
    mutating func perform() -> Bool {
        switch self {
        case .removeLeftovers(let root):
            do throws(ServiceError) {
                try root.removeLeftovers()
            } catch {
                Log.info("distro: \(error.message)")
            }
            return false
        case .install(var job):
            job.run()
            self = .install(job)
        case .remove(var job):
            job.run()
            self = .remove(job)
        }
        return true
    }
}

/// Unpacks an archive into a directory beside the root, checks that it is a rootfs, and
/// renames it into place: the root appears complete or not at all.
struct InstallJob {
    struct Summary {
        var entries: Int
        var bytes: Int64
        var format: String
    }

    let root: DistroRoot
    let location: ArchiveLocation
    let cancel: CancelFlag
    let serial: Int
    var result: Result<Summary, ServiceError> = .failure(ServiceError(.internalError, "the install did not run"))

    var source: String {
        switch location {
        case .file(let path): return String(decoding: path, as: UTF8.self)
        case .http(let url): return url.description
        }
    }

    mutating func run() {
        result = Result { () throws(ServiceError) in try install() }
    }

    private func install() throws(ServiceError) -> Summary {
        try root.removeLeftovers()
        do throws(Errno) {
            try FileTree.makeDirectory(root.parent, mode: 0o755, parents: true)
        } catch {
            throw .io("cannot create \(String(decoding: root.parent, as: UTF8.self))", error)
        }
        try checkRootIsFree()
        let partial = root.temporary("partial", serial: serial)
        guard FileTree.withCPath(partial, { mkdir($0, 0o755) }) == 0 else {
            throw .io("cannot create \(String(decoding: partial, as: UTF8.self))", .current)
        }
        do throws(ServiceError) {
            return try unpack(into: partial)
        } catch {
            try? FileTree.remove(partial, recursive: true, oneFileSystem: true)
            throw error
        }
    }

    /// Exists unless the root is absent or an empty directory (which the rename replaces).
    private func checkRootIsFree() throws(ServiceError) {
        if root.isInstalled { throw ServiceError(.exists, "a distro is already installed at \(root.description) (Remove it first)") }
        guard root.exists else { return }
        if FileTree.withCPath(root.path, { rmdir($0) }) == 0 { return }
        throw ServiceError(.exists, "\(root.description) exists but holds no rootfs (no /bin/sh); Remove it first")
    }

    private func unpack(into partial: [UInt8]) throws(ServiceError) -> Summary {
        let top = FileTree.withCPath(partial) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
        guard top >= 0 else { throw .io("cannot open \(String(decoding: partial, as: UTF8.self))", .current) }
        defer { FileDescriptor(top).close() }
        var stream = ArchiveStream(try openInput(), what: source)
        do throws(ServiceError) {
            try stream.begin()
        } catch {
            stream.close()
            throw error
        }
        var reader = TarReader(stream)
        var writer = RootfsWriter(top: top)
        defer { reader.close() }
        while let entry = try reader.next(cancel: cancel) {
            try writer.create(entry) { (buffer) throws(ServiceError) in try reader.readData(into: buffer) }
        }
        try reader.finishArchive()
        return try finish(partial, top, Summary(entries: reader.entries, bytes: writer.bytesWritten, format: reader.formatName))
    }

    private func openInput() throws(ServiceError) -> ArchiveStream.Input {
        switch location {
        case .file(let path):
            // Non-blocking: a FIFO would otherwise hold this thread (and every later
            // Install) until someone opened its other end.
            let fd = FileTree.withCPath(path) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_NONBLOCK) }
            guard fd >= 0 else {
                let error = Errno.current
                if error == .noEntry { throw ServiceError(.notFound, "no such archive: \(source)") }
                throw .io("cannot open \(source)", error)
            }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_mode & CSYS_S_IFMT == CSYS_S_IFREG else {
                FileDescriptor(fd).close()
                throw ServiceError(.badRequest, "URL: \(source) is \(FileTree.type(status.st_mode).article), not a regular file")
            }
            return .file(FileDescriptor(fd))
        case .http(let url):
            return .http(try HTTPDownload.open(url, cancel: cancel))
        }
    }

    /// A rootfs has /bin/sh. Synced, then renamed into place; the rename made durable.
    private func finish(_ partial: [UInt8], _ top: Int32, _ summary: Summary) throws(ServiceError) -> Summary {
        var status = stat()
        guard FileTree.withCPath(Array("bin/sh".utf8), { fstatat(top, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw ServiceError(.badRequest, "\(source) holds no /bin/sh: not a rootfs (\(summary.entries) entries)")
        }
        if let reason = cancel.reason { throw ServiceError(.timeout, "install cancelled: \(reason)") }
        // The mount points runs need, made now: an agent that is not root could not
        // create them in a rootfs that root owns.
        for (name, mode) in [("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777)] as [(String, mode_t)] {
            let made = FileTree.withCPath(Array(name.utf8)) { mkdirat(top, $0, mode) == 0 ? fchmodat(top, $0, mode, 0) : 0 }
            guard made == 0 || Errno.current == .exists else { throw .io("creating /\(name)", .current) }
        }
        guard csys_syncfs(top) == 0 else { throw .io("syncing the rootfs", .current) }
        try checkRootIsFree()
        do throws(Errno) {
            try FileTree.rename(partial, root.path, replace: false)
        } catch {
            if error == .exists { throw ServiceError(.exists, "\(root.description) appeared meanwhile") }
            throw .io("cannot rename the rootfs into place", error)
        }
        try? FileTree.syncDirectory(of: root.path)
        return summary
    }
}

/// Takes the root out of service at once (a rename), then deletes it without following
/// symlinks or entering mounts; mounts left under it are detached first.
struct RemoveJob {
    let root: DistroRoot
    let serial: Int
    var result: ServiceError? = ServiceError(.internalError, "the removal did not run")

    mutating func run() {
        do throws(ServiceError) {
            try remove()
            result = nil
        } catch {
            result = error
        }
    }

    private func remove() throws(ServiceError) {
        try root.unmountLeftovers()
        let doomed = root.temporary("removing", serial: serial)
        do throws(Errno) {
            try FileTree.rename(root.path, doomed, replace: false)
        } catch {
            throw error == .noEntry ? ServiceError(.notFound, "no distro is installed at \(root.description)")
                : .io("cannot remove \(root.description)", error)
        }
        try? FileTree.syncDirectory(of: root.path)
        do throws(Errno) {
            try FileTree.remove(doomed, recursive: true, oneFileSystem: true)
        } catch {
            throw .io("removing \(String(decoding: doomed, as: UTF8.self))", error)
        }
    }
}
