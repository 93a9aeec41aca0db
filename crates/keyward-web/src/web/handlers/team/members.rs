//! Team › Members: members and their roles, removal (their keys here are deleted, each
//! audited); the page lists pending invitations too (`invitations` makes and revokes them).

use super::{invitations, team_of};
use crate::db::models::api_key_list::KeyPage;
use crate::db::models::team_lists::TeamWhere;
use crate::domain::{AccountId, Role};
use crate::error::{AppError, HtmlError};
use crate::services::team_lists;
use crate::services::{members, recovery, two_factor};
use crate::web::handlers::form_answer::FormAnswer;
use crate::web::handlers::list_page::{page_request, search_pattern, Links, ListFrame};
use crate::web::htmx::{html, Htmx};
use crate::web::session::SignedIn;
use crate::web::views::{
    date, Layout, MemberRemovePage, MemberRemovePartial, MemberRow, MembersPage, TeamTenant,
};
use crate::web::AppState;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

pub(super) const NAV: &str = "team-members";

#[derive(serde::Deserialize)]
pub struct MemberPath {
    slug: String,
    account_id: String,
}

impl MemberPath {
    fn account(&self) -> Result<AccountId, AppError> {
        Ok(AccountId::parse_as("account_id", &self.account_id)?)
    }
}

#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub struct RoleInput {
    pub(super) role: String,
}

fn member_row(team: &TeamTenant, m: &members::Member, you: &str, admins: usize) -> MemberRow {
    let url = format!("{}/members/{}", team.base, m.account.id);
    MemberRow {
        is_you: m.account.id == you,
        last_admin: admins <= 1 && m.role == Role::Admin && !m.account.is_service_account(),
        account_id: m.account.id.clone(),
        name: m.account.name.clone(),
        email: m.account.email.clone().unwrap_or_default(),
        is_service_account: m.account.is_service_account(),
        role: m.role.as_str(),
        joined: date(m.joined_at),
        role_url: format!("{url}/role"),
        remove_url: format!("{url}/remove"),
        reset_link_url: None,
        two_factor: false,
    }
}

/// `?q=…&older=…|newer=…&invitations_older=…|invitations_newer=…`: the members' search
/// and page, and the pending invitations' page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct MembersQuery {
    q: String,
    older: String,
    newer: String,
    invitations_older: String,
    invitations_newer: String,
}

/// `GET /t/{slug}/team/members` (human admins: the invitations need ManagePeople): 50
/// members a page, newest first, searched by name or email; 50 pending invitations a page.
pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &slug)?;
    let query = query.into_inner();
    let (actor, tenant_id) = (signed_in.actor(), team.id.clone());
    let w = TeamWhere {
        name_like: search_pattern(&query.q),
        ..TeamWhere::default()
    };
    let members_page = page_request(&query.older, &query.newer);
    let invitations_page = page_request(&query.invitations_older, &query.invitations_newer);
    let (found, pending, admins, now) = state
        .run(move |conn, now| {
            let all = TeamWhere::default();
            let pending = team_lists::invitations_keyset(
                conn,
                &actor,
                now,
                &tenant_id,
                &all,
                &invitations_page,
            )?;
            let found =
                team_lists::members_keyset(conn, &actor, now, &tenant_id, &w, &members_page)?;
            let admins = members::human_admin_count(conn, &tenant_id)?;
            let accounts: Vec<_> = found.rows.iter().map(|m| m.account.clone()).collect();
            let offered = recovery::reset_link_offered(conn, &actor, &tenant_id, &accounts)?;
            let ids: Vec<String> = found.rows.iter().map(|m| m.account.id.clone()).collect();
            let two_factor_on = two_factor::enabled_among(conn, &ids)?;
            Ok((found, pending, (admins, offered, two_factor_on), now))
        })
        .await?;
    let (admins, offered, two_factor_on) = admins;
    let list_url = format!("{}/members", team.base);
    let members_frame = ListFrame::new(
        "members",
        &Links::searched(&list_url, &query.q),
        &query.q,
        "names or emails",
        &found,
        |m| (m.joined_at, m.account.id.clone()),
        ("member", "members"),
        false,
    );
    let invitation_links = Links {
        list_url: &list_url,
        kept: Vec::new(),
        older: "invitations_older",
        newer: "invitations_newer",
    };
    let invitations_frame = ListFrame::new(
        "invitations",
        &invitation_links,
        "",
        "",
        &pending,
        |p| (p.invitation.created_at, p.invitation.id.clone()),
        ("pending invitation", "pending invitations"),
        false,
    );
    let you = signed_in.account_id();
    let members = found
        .rows
        .iter()
        .map(|m| {
            let two_factor = two_factor_on.contains(&m.account.id);
            let mut row = MemberRow {
                two_factor,
                ..member_row(&team, m, you, admins)
            };
            if offered.contains(&row.account_id) {
                row.reset_link_url = Some(format!(
                    "{}/members/{}/reset-link",
                    team.base, row.account_id
                ));
            }
            row
        })
        .collect();
    let invitations = pending
        .rows
        .iter()
        .map(|p| invitations::row(&team, p, now))
        .collect();
    html(
        StatusCode::OK,
        &MembersPage {
            layout: Layout::signed_in(&signed_in, "Members", NAV),
            csrf_token: signed_in.csrf_token.clone(),
            team,
            members,
            members_frame,
            invitations,
            invitations_frame,
        },
    )
}

/// `POST /t/{slug}/team/members/{account_id}/role`
pub async fn change_role(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
    input: web::Form<RoleInput>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let role = Role::parse(&input.role).map_err(AppError::from)?;
    let (actor, tenant_id, account_id) = (signed_in.actor(), team.tenant_id(), path.account()?);
    let changed = state
        .run(move |conn, now| {
            members::change_role(conn, &actor, now, &tenant_id, &account_id, role)
        })
        .await;
    let answer = FormAnswer::new(hx, &signed_in, NAV);
    let back = format!("{}/members", team.base);
    match changed {
        Ok(member) => answer.done_at(
            format!("{} is now {}.", member.account.name, role.label()),
            &back,
        ),
        // The last admin (the page offers no other role, but it may be stale): said on
        // the members page, where it can be acted on, not on an error page.
        Err(AppError::Conflict(reason)) => {
            answer.done_at(format!("The role did not change: {reason}."), &back)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /t/{slug}/team/members/{account_id}/remove`: the confirmation, saying how many of
/// their keys for this tenant will be deleted.
pub async fn remove_form(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let (actor, tenant_id, account_id) = (signed_in.actor(), team.tenant_id(), path.account()?);
    let (member, key_count) = state
        .run(move |conn, now| {
            let one = TeamWhere {
                account_id: Some(account_id.to_string()),
                ..TeamWhere::default()
            };
            let first = KeyPage::OlderThan {
                limit: 1,
                cursor: None,
            };
            let member = team_lists::members(conn, &actor, now, &tenant_id, &one, &first)?
                .into_iter()
                .find(|m| !m.account.is_service_account())
                .ok_or_else(|| AppError::not_found("that person is not a member of this tenant"))?;
            let admins = members::human_admin_count(conn, &tenant_id)?;
            let keys = members::count_member_keys(conn, &actor, &tenant_id, &account_id)?;
            Ok(((member, admins), keys))
        })
        .await?;
    let view = MemberRemovePartial {
        member: member_row(&team, &member.0, signed_in.account_id(), member.1),
        key_count,
        team,
        csrf_token: signed_in.csrf_token.clone(),
    };
    FormAnswer::new(hx, &signed_in, NAV).show(
        StatusCode::OK,
        "Remove a member",
        view,
        |view| view,
        |layout, v| MemberRemovePage {
            layout,
            member: v.member,
            key_count: v.key_count,
            team: v.team,
            csrf_token: v.csrf_token,
        },
    )
}

/// `POST /t/{slug}/team/members/{account_id}/remove`
pub async fn remove(
    hx: Htmx,
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<MemberPath>,
) -> Result<HttpResponse, HtmlError> {
    let team = team_of(&signed_in, &path.slug)?;
    let (actor, tenant_id, account_id) = (signed_in.actor(), team.tenant_id(), path.account()?);
    let account = state
        .run(move |conn, now| members::remove_member(conn, &actor, now, &tenant_id, &account_id))
        .await?;
    FormAnswer::new(hx, &signed_in, NAV).done_at(
        format!("Removed {} from {}.", account.name, team.name),
        &format!("{}/members", team.base),
    )
}
