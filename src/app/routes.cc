#include "app/routes.h"

#include "platform/process_info.h"

namespace provisioner::app {

using http::Method;
using http::Request;
using http::Response;
using http::RouteOptions;

namespace {

struct ApiRoute {
  Method method;
  const char* pattern;
  Response (*handler)(http::ApiContext&, const Request&);
  bool mutating;
  bool leader_only;  // false: every node answers it itself (HA mode)
};

constexpr ApiRoute kApiRoutes[] = {
    {Method::kGet, "/api/v1/workspaces", http::ListWorkspaces, false, true},
    {Method::kGet, "/api/v1/workspaces/:name", http::GetWorkspace, false, true},
    {Method::kPost, "/api/v1/workspaces/:name/deploy", http::DeployWorkspace, true, true},
    {Method::kPost, "/api/v1/workspaces/:name/destroy", http::DestroyWorkspace, true, true},
    {Method::kPost, "/api/v1/workspaces/:name/pause", http::PauseWorkspace, true, true},
    {Method::kPost, "/api/v1/workspaces/:name/resume", http::ResumeWorkspace, true, true},
    {Method::kPost, "/api/v1/jobs/:id/cancel", http::CancelJob, true, true},
    {Method::kGet, "/api/v1/jobs", http::ListJobs, false, true},
    {Method::kGet, "/api/v1/jobs/:id", http::GetJob, false, true},
    // HA mode: every node reads job logs from the database itself.
    {Method::kGet, "/api/v1/jobs/:id/log", http::GetJobLog, false, false},
    {Method::kPost, "/api/v1/reload", http::Reload, true, false},
};

}  // namespace

void RegisterRoutes(http::Server& server, http::ApiContext& api, http::HealthChecker& health,
                    telemetry::Metrics& metrics) {
  // Probes answer without authentication (orchestrators rarely have
  // credentials); /health/deep says more and is authenticated.
  const RouteOptions probe{.anonymous = true};
  const RouteOptions read{};
  const RouteOptions write{.mutating = true, .json_body = true};

  server.Route(
      Method::kGet, "/health", [&health](const Request&) { return health.Health(); }, probe);
  server.Route(
      Method::kGet, "/ready", [&health](const Request&) { return health.Ready(); }, probe);
  server.Route(
      Method::kGet, "/health/deep", [&health](const Request&) { return health.Deep(); }, read);
  server.Route(
      Method::kGet, "/metrics",
      [&metrics](const Request&) {
        Response r;
        r.content_type = std::string(telemetry::Metrics::kContentType);
        r.body = metrics.Serialize();
        // The scrape's temporaries (a gauge per workspace) are freed by
        // now; hand their pages back rather than keep them between scrapes
        // (Prometheus scrapes every 15 s or so; a tight loop trims once a
        // second).
        platform::ReleaseFreeMemory(std::chrono::seconds(1));
        return r;
      },
      read);

  // HA mode: a standby relays the API to the leader through PostgreSQL
  // (api.relay), or answers 503 naming it; a reload stays every node's own.
  for (const ApiRoute& route : kApiRoutes) {
    const RouteOptions options = route.mutating ? write : read;
    server.Route(
        route.method, route.pattern,
        [&api, &route](const Request& req) {
          if (route.leader_only && api.not_leader) {
            if (std::string why = api.not_leader(); !why.empty()) {
              if (api.relay) return api.relay(req, route.mutating, why);
              return Response::Error(503, "not_leader", why);
            }
          }
          return route.handler(api, req);
        },
        options);
  }
}

Response DispatchRelayed(http::ApiContext& api, const Request& req) {
  for (const ApiRoute& route : kApiRoutes) {
    if (route.leader_only && route.method == req.method && req.route == route.pattern) {
      return route.handler(api, req);
    }
  }
  // A node of a newer version relayed a route this one lacks.
  return Response::Error(404, "not_found", "no route " + req.route + " on the leader");
}

}  // namespace provisioner::app
