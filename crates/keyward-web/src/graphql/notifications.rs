//! `notification_settings` and `set_notification`: the key notices a person gets by mail
//! (User › Notifications), each person for themselves.

use crate::graphql::context::RequestContext;
use crate::services::key_notices::{self, NoticeKind, NotificationSetting};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

/// A notice Keyward mails about API keys.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "notification_kind", rename_items = "SCREAMING_SNAKE_CASE")]
pub enum GqlNoticeKind {
    /// A new API key was added to your account (or to a service account you administer).
    KeyCreated,
    /// An API key expires in 7 days, and again in 1 day.
    KeyExpiring,
}

impl From<GqlNoticeKind> for NoticeKind {
    fn from(k: GqlNoticeKind) -> Self {
        match k {
            GqlNoticeKind::KeyCreated => NoticeKind::KeyCreated,
            GqlNoticeKind::KeyExpiring => NoticeKind::KeyExpiring,
        }
    }
}

impl From<NoticeKind> for GqlNoticeKind {
    fn from(k: NoticeKind) -> Self {
        match k {
            NoticeKind::KeyCreated => GqlNoticeKind::KeyCreated,
            NoticeKind::KeyExpiring => GqlNoticeKind::KeyExpiring,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "notification_setting", rename_fields = "snake_case")]
pub struct GqlNotificationSetting {
    kind: GqlNoticeKind,
    enabled: bool,
}

fn settings(list: Vec<NotificationSetting>) -> Vec<GqlNotificationSetting> {
    list.into_iter()
        .map(|s| GqlNotificationSetting {
            kind: s.kind.into(),
            enabled: s.on,
        })
        .collect()
}

#[derive(InputObject)]
#[graphql(name = "set_notification_input", rename_fields = "snake_case")]
pub struct SetNotificationInput {
    kind: GqlNoticeKind,
    enabled: bool,
}

#[derive(Default)]
pub struct NotificationsQuery;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl NotificationsQuery {
    /// The key notices mailed to the person whose key this is, and whether each is on.
    async fn notification_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<GqlNotificationSetting>> {
        let list = RequestContext::of(ctx)?
            .run(|conn, _, actor| key_notices::notification_settings(conn, actor))
            .await?;
        Ok(settings(list))
    }
}

#[derive(Default)]
pub struct NotificationsMutation;

#[Object(rename_fields = "snake_case", rename_args = "snake_case")]
impl NotificationsMutation {
    /// Turns one of your own key notices on, or off from a signed-in dashboard session
    /// only (an API key may not turn a notice off); answers all of them.
    async fn set_notification(
        &self,
        ctx: &Context<'_>,
        input: SetNotificationInput,
    ) -> async_graphql::Result<Vec<GqlNotificationSetting>> {
        let kind = NoticeKind::from(input.kind);
        let list = RequestContext::of(ctx)?
            .run(move |conn, now, actor| {
                key_notices::set_notification(conn, actor, now, kind, input.enabled)
            })
            .await?;
        Ok(settings(list))
    }
}
