// Every HTTP route of the daemon, registered explicitly in one place
// [STYLE.md B7: no static-init registrars].
#pragma once

#include "http/handlers_api.h"
#include "http/health.h"
#include "http/server.h"
#include "telemetry/metrics.h"

namespace provisioner::app {

// The handlers keep references to `api`, `health` and `metrics`, which must
// outlive the server.
void RegisterRoutes(http::Server& server, http::ApiContext& api, http::HealthChecker& health,
                    telemetry::Metrics& metrics);

// HA mode, on the leader: answers a request a standby relayed
// (coordination/pg_api_relay.h) with the handler of its route, as if it had
// come here; `req.route` names the route. 404 for a route that is not
// relayed.
http::Response DispatchRelayed(http::ApiContext& api, const http::Request& req);

}  // namespace provisioner::app
