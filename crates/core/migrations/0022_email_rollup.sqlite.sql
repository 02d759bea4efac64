-- Email KPIs per local day and campaign, kept by the analytics refresher: the sends of the day,
-- those whose recipient bounced, and the set of opened pairs among the rest (a pair is a campaign
-- and a recipient, named by the id of its first send), so a period's unique opens are the
-- distinct members of its days' sets.
CREATE TABLE an_email_days (
  day BIGINT NOT NULL,
  campaign_id BIGINT NOT NULL,
  sent BIGINT NOT NULL,
  bounced BIGINT NOT NULL,
  opened TEXT NOT NULL,
  PRIMARY KEY (day, campaign_id)
);
CREATE INDEX an_email_days_campaign ON an_email_days(campaign_id);

-- Campaigns whose events changed since their rows were made, written in the same transaction as
-- the events; the refresher makes each such campaign's rows again.
CREATE TABLE an_dirty_campaigns (
  campaign_id BIGINT PRIMARY KEY
);

-- Each session rollup row carries the set of its visitors, so a breakdown over a period counts
-- each group's distinct visitors from the rollups.
ALTER TABLE an_session_days ADD COLUMN visitors TEXT NOT NULL DEFAULT '';

-- Every derived row is made again (the next refresh finds no state).
DELETE FROM analytics_state;
