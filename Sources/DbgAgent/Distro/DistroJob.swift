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
            if let failure = root.removeLeftovers() { Log.info("distro: \(failure.message)") }
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
        if let failure = root.removeLeftovers() { return result = .failure(failure) }
        if let failure = FileTree.makeDirectory(root.parent, mode: 0o755, parents: true).map({
            ServiceError.io("cannot create \(String(decoding: root.parent, as: UTF8.self))", $0)
        }) { return result = .failure(failure) }
        if let failure = occupiedRoot() { return result = .failure(failure) }
        let partial = root.temporary("partial", serial: serial)
        guard FileTree.withCPath(partial, { mkdir($0, 0o755) }) == 0 else {
            return result = .failure(.io("cannot create \(String(decoding: partial, as: UTF8.self))", .current))
        }
        result = unpack(into: partial)
        if case .failure = result {
            _ = FileTree.remove(partial, recursive: true, oneFileSystem: true)
        }
    }

    /// Exists unless the root is absent or an empty directory (which the rename replaces).
    private func occupiedRoot() -> ServiceError? {
        if root.isInstalled { return ServiceError(.exists, "a distro is already installed at \(root.description) (Remove it first)") }
        guard root.exists else { return nil }
        if FileTree.withCPath(root.path, { rmdir($0) }) == 0 { return nil }
        return ServiceError(.exists, "\(root.description) exists but holds no rootfs (no /bin/sh); Remove it first")
    }

    private func unpack(into partial: [UInt8]) -> Result<Summary, ServiceError> {
        let top = FileTree.withCPath(partial) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
        guard top >= 0 else { return .failure(.io("cannot open \(String(decoding: partial, as: UTF8.self))", .current)) }
        defer { FileDescriptor(top).close() }
        let input: ArchiveStream.Input
        switch location {
        case .file(let path):
            // Non-blocking: a FIFO would otherwise hold this thread (and every later
            // Install) until someone opened its other end.
            let fd = FileTree.withCPath(path) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_NONBLOCK) }
            guard fd >= 0 else {
                let error = Errno.current
                if error == .noEntry { return .failure(ServiceError(.notFound, "no such archive: \(source)")) }
                return .failure(.io("cannot open \(source)", error))
            }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_mode & CSYS_S_IFMT == CSYS_S_IFREG else {
                FileDescriptor(fd).close()
                return .failure(ServiceError(.badRequest, "URL: \(source) is \(FileTree.type(status.st_mode).article), "
                    + "not a regular file"))
            }
            input = .file(FileDescriptor(fd))
        case .http(let url):
            switch HTTPDownload.open(url, cancel: cancel) {
            case .failure(let failure): return .failure(failure)
            case .success(let download): input = .http(download)
            }
        }
        var stream = ArchiveStream(input, what: source)
        if let failure = stream.begin() {
            stream.close()
            return .failure(failure)
        }
        var reader = TarReader(stream)
        var writer = RootfsWriter(top: top)
        defer {
            writer.close()
            reader.close()
        }
        while true {
            switch reader.next(cancel: cancel) {
            case .failure(let failure):
                return .failure(failure)
            case .success(nil):
                if let failure = reader.finishArchive() { return .failure(failure) }
                return finish(partial, top, Summary(entries: reader.entries, bytes: writer.bytesWritten, format: reader.formatName))
            case .success(let entry?):
                if let failure = writer.create(entry, data: { reader.readData(into: $0) }) { return .failure(failure) }
            }
        }
    }

    /// A rootfs has /bin/sh. Synced, then renamed into place; the rename made durable.
    private func finish(_ partial: [UInt8], _ top: Int32, _ summary: Summary) -> Result<Summary, ServiceError> {
        var status = stat()
        guard FileTree.withCPath(Array("bin/sh".utf8), { fstatat(top, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else {
            return .failure(ServiceError(.badRequest, "\(source) holds no /bin/sh: not a rootfs (\(summary.entries) entries)"))
        }
        if let reason = cancel.reason { return .failure(ServiceError(.timeout, "install cancelled: \(reason)")) }
        // The mount points runs need, made now: an agent that is not root could not
        // create them in a rootfs that root owns.
        for (name, mode) in [("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("tmp", 0o1777)] as [(String, mode_t)] {
            let made = FileTree.withCPath(Array(name.utf8)) { mkdirat(top, $0, mode) == 0 ? fchmodat(top, $0, mode, 0) : 0 }
            guard made == 0 || Errno.current == .exists else { return .failure(.io("creating /\(name)", .current)) }
        }
        guard csys_syncfs(top) == 0 else { return .failure(.io("syncing the rootfs", .current)) }
        if let failure = occupiedRoot() { return .failure(failure) }
        if let error = FileTree.rename(partial, root.path, replace: false) {
            if error == .exists { return .failure(ServiceError(.exists, "\(root.description) appeared meanwhile")) }
            return .failure(.io("cannot rename the rootfs into place", error))
        }
        _ = FileTree.syncDirectory(of: root.path)
        return .success(summary)
    }
}

/// Takes the root out of service at once (a rename), then deletes it without following
/// symlinks or entering mounts; mounts left under it are detached first.
struct RemoveJob {
    let root: DistroRoot
    let serial: Int
    var result: ServiceError? = ServiceError(.internalError, "the removal did not run")

    mutating func run() {
        if let failure = root.unmountLeftovers() { return result = failure }
        let doomed = root.temporary("removing", serial: serial)
        if let error = FileTree.rename(root.path, doomed, replace: false) {
            return result = error == .noEntry ? ServiceError(.notFound, "no distro is installed at \(root.description)")
                : .io("cannot remove \(root.description)", error)
        }
        _ = FileTree.syncDirectory(of: root.path)
        if let error = FileTree.remove(doomed, recursive: true, oneFileSystem: true) {
            return result = .io("removing \(String(decoding: doomed, as: UTF8.self))", error)
        }
        result = nil
    }
}
