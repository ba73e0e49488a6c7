import DbgWire

/// Starting the HTTP API when --http asks for it.
extension Agent {
    static func startHTTP(_ config: AgentConfig, core: ServiceCore) throws(StartupError) -> HTTPFrontEnd? {
        guard config.http.isOn else { return nil }
        var listeners: [Listener] = []
        do throws(StartupError) {
            for address in config.http.addresses { listeners.append(try Listener.open(address)) }
            return try HTTPFrontEnd(config: config, core: core, listeners: listeners)
        } catch {
            for listener in listeners { listener.close() }
            throw error
        }
    }

    #if !DBG_NO_DISTRO
    /// distro-install, and the distro's state in GET /api/v1/systems.
    static func add(_ distro: DistroService, to http: HTTPFrontEnd) {
        http.distro = distro
        http.statusProviders.append(("distro", {
            .object([JSONMember("installed", .bool(distro.root.isInstalled)), JSONMember("root", .string(distro.root.description))])
        }))
    }
    #endif
}
