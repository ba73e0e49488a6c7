import CSys

/// crypt(3) through libxcrypt's reentrant crypt_rn, so worker threads can hash at once.
enum PasswordHash {
    /// Whether `password` hashes to `hash` (any scheme libxcrypt knows; the scheme and
    /// salt come from `hash` itself). The result is compared in constant time.
    static func matches(_ password: [UInt8], _ hash: [UInt8]) -> Bool {
        guard let computed = compute(password, setting: hash) else { return false }
        return computed.withUnsafeBytes { a in hash.withUnsafeBytes { b in constantTimeEquals(a, b) } }
    }

    /// crypt_rn(password, setting); nil for a setting libxcrypt rejects.
    static func compute(_ password: [UInt8], setting: [UInt8]) -> [UInt8]? {
        let work = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(CSYS_CRYPT_DATA_SIZE), alignment: 16)
        defer {
            csys_wipe(work.baseAddress, work.count)
            work.deallocate()
        }
        work.initializeMemory(as: UInt8.self, repeating: 0)
        var phrase = password + [0]
        let salt = setting + [0]
        let result: [UInt8]? = phrase.withUnsafeBufferPointer { phrasePointer in
            salt.withUnsafeBufferPointer { saltPointer in
                let phraseC = UnsafeRawPointer(phrasePointer.baseAddress!).assumingMemoryBound(to: CChar.self)
                let saltC = UnsafeRawPointer(saltPointer.baseAddress!).assumingMemoryBound(to: CChar.self)
                guard let out = crypt_rn(phraseC, saltC, work.baseAddress, Int32(work.count)) else { return nil }
                let bytes = UnsafeRawBufferPointer(start: out, count: strlen(out))
                // libxcrypt signals failure with a string starting with '*'.
                guard bytes.first != UInt8(ascii: "*") else { return nil }
                return Array(bytes)
            }
        }
        phrase.withUnsafeMutableBytes { csys_wipe($0.baseAddress, $0.count) }
        return result
    }

    /// A fresh setting (scheme and random salt) for `prefix` such as "$6$" or "$y$".
    static func newSetting(prefix: StaticString) -> [UInt8]? {
        var output = [CChar](repeating: 0, count: 128)
        let made = crypt_gensalt_rn(prefix.utf8StartCChar, 0, nil, 0, &output, Int32(output.count))
        guard made != nil else { return nil }
        return output.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
    }
}

/// Equality whose time depends only on the lengths, not on where the bytes differ.
func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in 0..<a.count { difference |= a[index] ^ b[index] }
    return difference == 0
}
