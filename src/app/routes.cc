#include "app/routes.h"

#include "platform/process_info.h"

namespace provisioner::app {

using http::Method;
using http::Request;
using http::Response;
using http::RouteOptions;

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

  // HA mode: a standby answers 503 naming the leader; a reload stays
  // every node's own.
  auto api_route = [&api](Response (*handler)(http::ApiContext&, const Request&),
                          bool leader_only = true) {
    return [&api, handler, leader_only](const Request& req) {
      if (leader_only && api.not_leader) {
        if (std::string why = api.not_leader(); !why.empty()) {
          return Response::Error(503, "not_leader", why);
        }
      }
      return handler(api, req);
    };
  };
  server.Route(Method::kGet, "/api/v1/workspaces", api_route(http::ListWorkspaces), read);
  server.Route(Method::kGet, "/api/v1/workspaces/:name", api_route(http::GetWorkspace), read);
  server.Route(Method::kPost, "/api/v1/workspaces/:name/deploy", api_route(http::DeployWorkspace),
               write);
  server.Route(Method::kPost, "/api/v1/workspaces/:name/destroy", api_route(http::DestroyWorkspace),
               write);
  server.Route(Method::kPost, "/api/v1/workspaces/:name/pause", api_route(http::PauseWorkspace),
               write);
  server.Route(Method::kPost, "/api/v1/workspaces/:name/resume", api_route(http::ResumeWorkspace),
               write);
  server.Route(Method::kPost, "/api/v1/jobs/:id/cancel", api_route(http::CancelJob), write);
  server.Route(Method::kGet, "/api/v1/jobs", api_route(http::ListJobs), read);
  server.Route(Method::kGet, "/api/v1/jobs/:id", api_route(http::GetJob), read);
  server.Route(Method::kGet, "/api/v1/jobs/:id/log", api_route(http::GetJobLog), read);
  server.Route(Method::kPost, "/api/v1/reload", api_route(http::Reload, false), write);
}

}  // namespace provisioner::app
