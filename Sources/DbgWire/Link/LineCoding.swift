/// How link packets cross a serial line: CRC-32 appended, COBS-encoded (no 0x00 inside),
/// then a 0x00 delimiter. A receiver that loses its place (noise, a dropped byte, a
/// cable plugged in midway) finds the next packet at the next 0x00.
public enum LineCoding {
    /// CRC-32 as in Ethernet, gzip and PNG (reflected 0xEDB88320, inverted), four bits at
    /// a time.
    public static func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        let table: [UInt32] = [
            0x0000_0000, 0x1DB7_1064, 0x3B6E_20C8, 0x26D9_30AC, 0x76DC_4190, 0x6B6B_51F4, 0x4DB2_6158, 0x5005_713C,
            0xEDB8_8320, 0xF00F_9344, 0xD6D6_A3E8, 0xCB61_B38C, 0x9B64_C2B0, 0x86D3_D2D4, 0xA00A_E278, 0xBDBD_F21C,
        ]
        var crc = ~seed
        table.withUnsafeBufferPointer { table in
            for byte in bytes {
                crc ^= UInt32(byte)
                crc = (crc >> 4) ^ table[Int(crc & 0x0f)]
                crc = (crc >> 4) ^ table[Int(crc & 0x0f)]
            }
        }
        return ~crc
    }

    /// Appends COBS(`packet` + CRC-32) and the 0x00 delimiter to `line`.
    public static func encode(_ packet: [UInt8], into line: inout [UInt8]) {
        var framed = packet
        let crc = packet.withUnsafeBytes { crc32($0) }
        for shift in stride(from: 0, to: 32, by: 8) { framed.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        // COBS: each block starts with the distance to the next zero (or 255 for a full
        // block of 254 non-zero bytes).
        var codeAt = line.count
        line.append(0)
        var code: UInt8 = 1
        for byte in framed {
            if byte == 0 {
                line[codeAt] = code
                codeAt = line.count
                line.append(0)
                code = 1
                continue
            }
            line.append(byte)
            code += 1
            if code == 0xff {
                line[codeAt] = code
                codeAt = line.count
                line.append(0)
                code = 1
            }
        }
        line[codeAt] = code
        line.append(0)
    }

    /// The packet inside one delimited line frame (without its 0x00), or nil when it is
    /// not valid COBS, too short, or its CRC-32 does not match.
    public static func decode(_ frame: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(frame.count)
        var index = frame.startIndex
        while index < frame.endIndex {
            let code = Int(frame[index])
            guard code != 0, index + code <= frame.endIndex else { return nil }
            out.append(contentsOf: frame[(index + 1)..<(index + code)])
            index += code
            if code < 0xff && index < frame.endIndex { out.append(0) }
        }
        guard out.count >= 4 else { return nil }
        let body = out.count - 4
        var stored: UInt32 = 0
        for shift in 0..<4 { stored |= UInt32(out[body + shift]) << UInt32(8 * shift) }
        let computed = out.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard stored == computed else { return nil }
        out.removeLast(4)
        return out
    }
}
