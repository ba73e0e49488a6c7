import DbgClient
import DbgWire
import Glibc

/// Copies files and directories each way with a session's RemoteFiles: what `dbg push`,
/// `dbg pull`, `dbg app deploy` and `dbg backup create` do.
struct Transfer {
    let options: TransferOptions
    let files: RemoteFiles

    func push(_ source: String, to destination: String) throws {
        let local = LocalPath(source)
        guard let mode = local.permissions else { throw LocalFailure("no such file or directory") }
        if local.isDirectory {
            try files.makeDirectory(destination, mode: mode, parents: true)
            for name in try local.entries() {
                try push(source + "/" + name, to: remoteJoin(destination, name))
            }
            return
        }
        try pushFile(source, to: destination, mode: mode)
    }

    private func pushFile(_ source: String, to destination: String, mode: UInt32) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw LocalFailure("cannot open \(source): " + describeErrno()) }
        defer { close(input) }
        let size = LocalPath(source).size ?? 0
        let started = MonotonicClock.nanoseconds()
        let partial = partialName(destination)
        var start: UInt64 = 0
        // --verify hashes the bytes as they go out, on a thread of its own; a resumed copy
        // starts from its prefix.
        if options.resume, let existing = try? files.stat(partial), existing.size > 0, existing.size <= size,
           try files.hash(partial, offset: 0, length: existing.size).digest == localHasher(source, length: existing.size).finish() {
            start = existing.size
        }
        // The prefix of a resumed copy was compared above; the rest in segments, as the
        // board hashes them while the push goes on.
        let hasher = options.verify ? BackgroundHasher(segment: RemoteFiles.hashSegment) : nil
        guard lseek(input, off_t(start), SEEK_SET) == off_t(start) else { throw LocalFailure("cannot seek in \(source)") }
        let progress = ProgressLine(LocalPath(source).name, total: size, quiet: options.quiet)
        let fill = { (buffer: UnsafeMutableRawBufferPointer) throws(ClientError) -> Int in
            let count = read(input, buffer.baseAddress, buffer.count)
            guard count >= 0 else { throw .io("reading \(source): \(String(cString: strerror(errno)))") }
            hasher?.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            return count
        }
        if let hasher {
            let remote = try files.writeHashing(partial, at: start, truncate: start == 0, mode: mode, from: fill,
                                                progress: { progress.update(start + $0) })
            progress.finish(size)
            guard remote == hasher.finishSegments() else {
                throw LocalFailure("the copy on the board differs from \(source) (SHA-256); left as \(partial)")
            }
        } else {
            try files.write(partial, at: start, truncate: start == 0, mode: mode, from: fill, progress: { progress.update(start + $0) })
            progress.finish(size)
        }
        try files.rename(partial, to: destination, replace: true)
        options.report(source, destination, bytes: size, resumedFrom: start, since: started)
    }

    func pull(_ source: String, to destination: String) throws {
        let info = try files.stat(source)
        switch Dbg.FileType(rawValue: info.type) {
        case .directory:
            try LocalPath(destination).makeDirectories()
            chmod(destination, mode_t(info.mode))
            for entry in try files.list(source) {
                try pull(remoteJoin(source, entry.name.string), to: destination + "/" + entry.name.string)
            }
        case .regular:
            try pullFile(source, to: destination, info: info)
        default:
            Terminal.error("dbg: pull \(source): skipped (a \(typeName(info.type)), not a file or directory)")
        }
    }

    private func pullFile(_ source: String, to destination: String, info: Dbg.FileInfo) throws {
        let partial = partialName(destination)
        let started = MonotonicClock.nanoseconds()
        var start: UInt64 = 0
        if options.resume, let size = LocalPath(partial).size, size > 0, size <= info.size,
           try files.hash(source, offset: 0, length: size).digest == localHasher(partial, length: size).finish() {
            start = size
        }
        let fd = open(partial, O_WRONLY | O_CREAT | (start == 0 ? O_TRUNC : 0), 0o600)
        guard fd >= 0 else { throw LocalFailure("cannot create \(partial): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        lseek(fd, off_t(start), SEEK_SET)
        let progress = ProgressLine(LocalPath(source).name, total: info.size, quiet: options.quiet)
        var done = start
        // With --verify the board hashes its file while it is being read, and so does dbg
        // what arrives, on a thread of its own.
        let hasher = options.verify ? BackgroundHasher(continuing: try prefixHasher(partial, length: start)) : nil
        func receive(_ bytes: UnsafeRawBufferPointer) throws(ClientError) {
            try writeAll(fd, bytes, to: partial)
            hasher?.feed(bytes)
            done += UInt64(bytes.count)
            progress.update(done)
        }
        var remoteDigest: [UInt8] = []
        if options.verify {
            remoteDigest = try files.readHashing(source, from: start, receive).digest
        } else {
            try files.read(source, from: start, receive)
        }
        progress.finish(done)
        fchmod(fd, mode_t(info.mode))
        // On disk before it takes the final name: a crash must not leave an empty file there.
        guard fsync(fd) == 0 else { throw LocalFailure("cannot write \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        closed = true
        if let hasher, remoteDigest != hasher.finish() {
            throw LocalFailure("\(partial) differs from the file on the board (SHA-256)")
        }
        guard rename(partial, destination) == 0 else { throw LocalFailure("cannot rename \(partial) to \(destination)") }
        options.report(source, destination, bytes: done, resumedFrom: start, since: started)
    }
}
