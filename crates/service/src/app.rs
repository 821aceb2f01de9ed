//! The methods every service's app type has in the same form, written once: [`service_app!`]
//! (and [`openapi_tests!`] for the check every OpenAPI document gets).

/// For a service's app type `$app`, which holds its [`Service`](crate::Service) in a field
/// `service` and has `fn api(&self) -> Router` (its own routes) and
/// `fn spawn_background(&self, stop: &CancellationToken)` (its consumers and chores): `Deref` to
/// the `Service` (so `app.pool`, `app.nats` and `app.jetstream()` read as the app's), `router()`
/// and `serve()`.
#[macro_export]
macro_rules! service_app {
    ($app:ty) => {
        impl ::std::ops::Deref for $app {
            type Target = $crate::Service;

            fn deref(&self) -> &$crate::Service {
                &self.service
            }
        }

        impl $app {
            /// All HTTP routes: the API, health and metrics. Starts the readiness probe, so
            /// call it within a Tokio runtime.
            pub fn router(&self) -> $crate::__private::axum::Router {
                self.service.router(self.api())
            }

            /// Serves on `listener` until `shutdown`, with the background tasks; then finishes
            /// the requests in flight and publishes the events they committed.
            pub async fn serve(
                self,
                listener: $crate::__private::tokio::net::TcpListener,
                shutdown: $crate::__private::tokio_util::sync::CancellationToken,
            ) -> $crate::__private::anyhow::Result<()> {
                let router = self.router();
                self.service
                    .serve(listener, router, shutdown, |stop| {
                        self.spawn_background(stop)
                    })
                    .await
            }
        }
    };
}

/// A unit test that the OpenAPI document `$doc` (a type of the calling module) of service `$service` documents every problem
/// code that service can answer ([`assert_problems_documented`](crate::openapi::assert_problems_documented)).
#[macro_export]
macro_rules! openapi_tests {
    ($doc:ident, $service:literal) => {
        #[cfg(test)]
        mod openapi_tests {
            #[test]
            fn every_error_response_is_a_problem_listing_its_codes() {
                $crate::openapi::assert_problems_documented(
                    &<super::$doc as $crate::__private::utoipa::OpenApi>::openapi(),
                    $service,
                );
            }
        }
    };
}
