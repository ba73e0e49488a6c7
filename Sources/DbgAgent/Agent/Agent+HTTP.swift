import DbgWire

/// Starting the HTTP API when --http asks for it.
extension Agent {
    static func startHTTP(_ config: AgentConfig, core: ServiceCore, distro: DistroService) throws(StartupError) -> HTTPFrontEnd? {
        guard config.http.isOn else { return nil }
        var listeners: [Listener] = []
        do throws(StartupError) {
            for address in config.http.addresses { listeners.append(try Listener.open(address)) }
            let http = try HTTPFrontEnd(config: config, core: core, distro: distro, listeners: listeners)
            http.statusProviders.append(("distro", {
                .object([JSONMember("installed", .bool(distro.root.isInstalled)), JSONMember("root", .string(distro.root.description))])
            }))
            return http
        } catch {
            for listener in listeners { listener.close() }
            throw error
        }
    }
}
