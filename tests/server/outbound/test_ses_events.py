"""SES events read from SNS notifications: the examples of the SES developer guide each read
as the event they are, and what is not an event we use reads as None, never an exception.

The examples are copied from two pages of the SES developer guide:
- event publishing (configuration sets): "Examples of event data that Amazon SES publishes to
  Amazon SNS", https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
- identity notifications: "Amazon SNS notification examples for Amazon SES",
  https://docs.aws.amazon.com/ses/latest/dg/notification-examples.html
Long header lists are cut where noted; nothing read here is in them.
"""

# The examples keep the documentation's long lines.
# ruff: noqa: E501

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatch_server.outbound.feedback.ses_events import (
    MAX_DETAIL_CHARS,
    MAX_EVENT_CHARS,
    MAX_RECIPIENTS,
    SesEvent,
    parse_ses_event,
)

# --- event publishing (eventType) ------------------------------------------------------

EVENT_BOUNCE = """{
  "eventType":"Bounce",
  "bounce":{
    "bounceType":"Permanent",
    "bounceSubType":"General",
    "bouncedRecipients":[
      {
        "emailAddress":"recipient@example.com",
        "action":"failed",
        "status":"5.1.1",
        "diagnosticCode":"smtp; 550 5.1.1 user unknown"
      }
    ],
    "timestamp":"2017-08-05T00:41:02.669Z",
    "feedbackId":"01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
    "reportingMTA":"dsn; mta.example.com"
  },
  "mail":{
    "timestamp":"2017-08-05T00:40:02.012Z",
    "source":"Sender Name <sender@example.com>",
    "sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId":"123456789012",
    "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination":[
      "recipient@example.com"
    ],
    "headersTruncated":false,
    "headers":[
      {
        "name":"From",
        "value":"Sender Name <sender@example.com>"
      },
      {
        "name":"To",
        "value":"recipient@example.com"
      },
      {
        "name":"Subject",
        "value":"Message sent from Amazon SES"
      },
      {
        "name":"MIME-Version",
        "value":"1.0"
      },
      {
        "name":"Content-Type",
        "value":"multipart/alternative; boundary=\\"----=_Part_7307378_1629847660.1516840721503\\""
      }
    ],
    "commonHeaders":{
      "from":[
        "Sender Name <sender@example.com>"
      ],
      "to":[
        "recipient@example.com"
      ],
      "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject":"Message sent from Amazon SES"
    },
    "tags":{
      "ses:configuration-set":[
        "ConfigSet"
      ],
      "ses:source-ip":[
        "192.0.2.0"
      ],
      "ses:from-domain":[
        "example.com"
      ],
      "ses:caller-identity":[
        "ses_user"
      ]
    }
  }
}"""

EVENT_COMPLAINT = """{
  "eventType":"Complaint",
  "complaint": {
    "complainedRecipients":[
      {
        "emailAddress":"recipient@example.com"
      }
    ],
    "timestamp":"2017-08-05T00:41:02.669Z",
    "feedbackId":"01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
    "userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36",
    "complaintFeedbackType":"abuse",
    "arrivalDate":"2017-08-05T00:41:02.669Z"
  },
  "mail":{
    "timestamp":"2017-08-05T00:40:01.123Z",
    "source":"Sender Name <sender@example.com>",
    "sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId":"123456789012",
    "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination":[
      "recipient@example.com"
    ],
    "headersTruncated":false,
    "headers":[
      {
        "name":"From",
        "value":"Sender Name <sender@example.com>"
      },
      {
        "name":"To",
        "value":"recipient@example.com"
      },
      {
        "name":"Subject",
        "value":"Message sent from Amazon SES"
      },
      {
        "name":"MIME-Version","value":"1.0"
      },
      {
        "name":"Content-Type",
        "value":"multipart/alternative; boundary=\\"----=_Part_7298998_679725522.1516840859643\\""
      }
    ],
    "commonHeaders":{
      "from":[
        "Sender Name <sender@example.com>"
      ],
      "to":[
        "recipient@example.com"
      ],
      "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject":"Message sent from Amazon SES"
    },
    "tags":{
      "ses:configuration-set":[
        "ConfigSet"
      ],
      "ses:source-ip":[
        "192.0.2.0"
      ],
      "ses:from-domain":[
        "example.com"
      ],
      "ses:caller-identity":[
        "ses_user"
      ]
    }
  }
}"""

EVENT_DELIVERY = """{
  "eventType": "Delivery",
  "mail": {
    "timestamp": "2016-10-19T23:20:52.240Z",
    "source": "sender@example.com",
    "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId": "123456789012",
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination": [
      "recipient@example.com"
    ],
    "headersTruncated": false,
    "headers": [
      {
        "name": "From",
        "value": "sender@example.com"
      },
      {
        "name": "To",
        "value": "recipient@example.com"
      },
      {
        "name": "Subject",
        "value": "Message sent from Amazon SES"
      },
      {
        "name": "MIME-Version",
        "value": "1.0"
      },
      {
        "name": "Content-Type",
        "value": "text/html; charset=UTF-8"
      },
      {
        "name": "Content-Transfer-Encoding",
        "value": "7bit"
      }
    ],
    "commonHeaders": {
      "from": [
        "sender@example.com"
      ],
      "to": [
        "recipient@example.com"
      ],
      "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject": "Message sent from Amazon SES"
    },
    "tags": {
      "ses:configuration-set": [
        "ConfigSet"
      ],
      "ses:source-ip": [
        "192.0.2.0"
      ],
      "ses:from-domain": [
        "example.com"
      ],
      "ses:caller-identity": [
        "ses_user"
      ],
      "ses:outgoing-ip": [
        "192.0.2.0"
      ],
      "myCustomTag1": [
        "myCustomTagValue1"
      ],
      "myCustomTag2": [
        "myCustomTagValue2"
      ]
    }
  },
  "delivery": {
    "timestamp": "2016-10-19T23:21:04.133Z",
    "processingTimeMillis": 11893,
    "recipients": [
      "recipient@example.com"
    ],
    "smtpResponse": "250 2.6.0 Message received",
    "reportingMTA": "mta.example.com"
  }
}"""

EVENT_SEND = """{
  "eventType": "Send",
  "mail": {
    "timestamp": "2016-10-14T05:02:16.645Z",
    "source": "sender@example.com",
    "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId": "123456789012",
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination": [
      "recipient@example.com"
    ],
    "headersTruncated": false,
    "headers": [
      {
        "name": "From",
        "value": "sender@example.com"
      },
      {
        "name": "To",
        "value": "recipient@example.com"
      },
      {
        "name": "Subject",
        "value": "Message sent from Amazon SES"
      },
      {
        "name": "MIME-Version",
        "value": "1.0"
      },
      {
        "name": "Content-Type",
        "value": "multipart/mixed;  boundary=\\"----=_Part_0_716996660.1476421336341\\""
      },
      {
        "name": "X-SES-MESSAGE-TAGS",
        "value": "myCustomTag1=myCustomTagValue1, myCustomTag2=myCustomTagValue2"
      }
    ],
    "commonHeaders": {
      "from": [
        "sender@example.com"
      ],
      "to": [
        "recipient@example.com"
      ],
      "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject": "Message sent from Amazon SES"
    },
    "tags": {
      "ses:configuration-set": [
        "ConfigSet"
      ],
      "ses:source-ip": [
        "192.0.2.0"
      ],
      "ses:from-domain": [
        "example.com"
      ],
      "ses:caller-identity": [
        "ses_user"
      ],
      "myCustomTag1": [
        "myCustomTagValue1"
      ],
      "myCustomTag2": [
        "myCustomTagValue2"
      ]
    }
  },
  "send": {}
}"""

EVENT_REJECT = """{
  "eventType": "Reject",
  "mail": {
    "timestamp": "2016-10-14T17:38:15.211Z",
    "source": "sender@example.com",
    "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId": "123456789012",
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination": [
      "sender@example.com"
    ],
    "headersTruncated": false,
    "headers": [
      {
        "name": "From",
        "value": "sender@example.com"
      },
      {
        "name": "To",
        "value": "recipient@example.com"
      },
      {
        "name": "Subject",
        "value": "Message sent from Amazon SES"
      },
      {
        "name": "MIME-Version",
        "value": "1.0"
      },
      {
        "name": "Content-Type",
        "value": "multipart/mixed; boundary=\\"qMm9M+Fa2AknHoGS\\""
      },
      {
        "name": "X-SES-MESSAGE-TAGS",
        "value": "myCustomTag1=myCustomTagValue1, myCustomTag2=myCustomTagValue2"
      }
    ],
    "commonHeaders": {
      "from": [
        "sender@example.com"
      ],
      "to": [
        "recipient@example.com"
      ],
      "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject": "Message sent from Amazon SES"
    },
    "tags": {
      "ses:configuration-set": [
        "ConfigSet"
      ],
      "ses:source-ip": [
        "192.0.2.0"
      ],
      "ses:from-domain": [
        "example.com"
      ],
      "ses:caller-identity": [
        "ses_user"
      ],
      "myCustomTag1": [
        "myCustomTagValue1"
      ],
      "myCustomTag2": [
        "myCustomTagValue2"
      ]
    }
  },
  "reject": {
    "reason": "Bad content"
  }
}"""

EVENT_DELIVERY_DELAY = """{
  "eventType": "DeliveryDelay",
  "mail":{
    "timestamp":"2020-06-16T00:15:40.641Z",
    "source":"sender@example.com",
    "sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId":"123456789012",
    "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination":[
      "recipient@example.com"
    ],
    "headersTruncated":false,
    "tags":{
      "ses:configuration-set":[
        "ConfigSet"
      ]
    }
  },
  "deliveryDelay": {
    "timestamp": "2020-06-16T00:25:40.095Z",
    "delayType": "TransientCommunicationFailure",
    "expirationTime": "2020-06-16T00:25:40.914Z",
    "delayedRecipients": [{
      "emailAddress": "recipient@example.com",
      "status": "4.4.1",
      "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host"
    }]
  }
}"""

# Header lists cut.
EVENT_OPEN = """{
  "eventType": "Open",
  "mail": {
    "commonHeaders": {
      "from": [
        "sender@example.com"
      ],
      "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
      "subject": "Message sent from Amazon SES",
      "to": [
        "recipient@example.com"
      ]
    },
    "destination": [
      "recipient@example.com"
    ],
    "headersTruncated": false,
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "sendingAccountId": "123456789012",
    "source": "sender@example.com",
    "tags": {
      "myCustomTag1":[
        "myCustomValue1"
      ],
      "ses:configuration-set": [
        "ConfigSet"
      ]
    },
    "timestamp": "2017-08-09T21:59:49.927Z"
  },
  "open": {
    "ipAddress": "192.0.2.1",
    "timestamp": "2017-08-09T22:00:19.652Z",
    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X) AppleWebKit/603.3.8 (KHTML, like Gecko) Mobile/14G60"
  }
}"""

EVENT_CLICK = """{
  "eventType": "Click",
  "click": {
    "ipAddress": "192.0.2.1",
    "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
    "linkTags": {
      "samplekey0": [
        "samplevalue0"
      ],
      "samplekey1": [
        "samplevalue1"
      ]
    },
    "timestamp": "2017-08-09T23:51:25.570Z",
    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36"
  },
  "mail": {
    "destination": [
      "recipient@example.com"
    ],
    "headersTruncated": false,
    "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "sendingAccountId": "123456789012",
    "source": "sender@example.com",
    "timestamp": "2017-08-09T23:50:05.795Z"
  }
}"""

EVENT_RENDERING_FAILURE = """{
  "eventType":"Rendering Failure",
  "mail":{
    "timestamp":"2018-01-22T18:43:06.197Z",
    "source":"sender@example.com",
    "sourceArn":"arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId":"123456789012",
    "messageId":"EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
    "destination":[
      "recipient@example.com"
    ],
    "headersTruncated":false,
    "tags":{
      "ses:configuration-set":[
        "ConfigSet"
      ]
    }
  },
  "failure":{
    "errorMessage":"Attribute 'attributeName' is not present in the rendering data.",
    "templateName":"MyTemplate"
  }
}"""

# --- identity notifications (notificationType) -----------------------------------------

NOTIFICATION_BOUNCE_WITH_DSN = """{
   "notificationType":"Bounce",
   "bounce":{
      "bounceType":"Permanent",
      "reportingMTA":"dns; email.example.com",
      "bouncedRecipients":[
         {
            "emailAddress":"jane@example.com",
            "status":"5.1.1",
            "action":"failed",
            "diagnosticCode":"smtp; 550 5.1.1 <jane@example.com>... User"
         }
      ],
      "bounceSubType":"General",
      "timestamp":"2016-01-27T14:59:38.237Z",
      "feedbackId":"00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
      "remoteMtaIp":"127.0.2.0"
   },
   "mail":{
      "timestamp":"2016-01-27T14:59:38.237Z",
      "source":"john@example.com",
      "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
      "sourceIp": "127.0.3.0",
      "sendingAccountId":"123456789012",
      "messageId":"00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
      "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"],
      "headersTruncated":false,
      "headers":[
       {
         "name":"From",
         "value":"\\"John Doe\\" <john@example.com>"
       },
       {
         "name":"To",
         "value":"\\"Jane Doe\\" <jane@example.com>, \\"Mary Doe\\" <mary@example.com>, \\"Richard Doe\\" <richard@example.com>"
       },
       {
         "name":"Message-ID",
         "value":"custom-message-ID"
       },
       {
         "name":"Subject",
         "value":"Hello"
       }
      ],
      "commonHeaders":{
         "from":[
            "John Doe <john@example.com>"
         ],
         "date":"Wed, 27 Jan 2016 14:05:45 +0000",
         "to":[
            "Jane Doe <jane@example.com>, Mary Doe <mary@example.com>, Richard Doe <richard@example.com>"
         ],
         "messageId":"custom-message-ID",
         "subject":"Hello"
       }
    }
}"""

NOTIFICATION_BOUNCE_WITHOUT_DSN = """{
  "notificationType":"Bounce",
  "bounce":{
     "bounceType":"Permanent",
     "bounceSubType": "General",
     "bouncedRecipients":[
        {
           "emailAddress":"jane@example.com"
        },
        {
           "emailAddress":"richard@example.com"
        }
     ],
     "timestamp":"2016-01-27T14:59:38.237Z",
     "feedbackId":"00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
     "remoteMtaIp":"127.0.2.0"
  },
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"
     ],
    "headersTruncated":false
  }
}"""

NOTIFICATION_COMPLAINT_WITH_FEEDBACK = """{
  "notificationType":"Complaint",
  "complaint":{
     "userAgent":"AnyCompany Feedback Loop (V0.01)",
     "complainedRecipients":[
        {
           "emailAddress":"richard@example.com"
        }
     ],
     "complaintFeedbackType":"abuse",
     "arrivalDate":"2016-01-27T14:59:38.237Z",
     "timestamp":"2016-01-27T14:59:38.237Z",
     "feedbackId":"000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"
  },
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"
     ],
      "headersTruncated":false
  }
}"""

NOTIFICATION_COMPLAINT_WITHOUT_FEEDBACK = """{
  "notificationType":"Complaint",
  "complaint":{
     "complainedRecipients":[
        {
           "emailAddress":"richard@example.com"
        }
     ],
     "timestamp":"2016-01-27T14:59:38.237Z",
     "feedbackId":"0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000"
  },
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"
     ],
     "headersTruncated":false
  }
}"""

NOTIFICATION_DELIVERY = """{
  "notificationType":"Delivery",
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com"
     ],
      "headersTruncated":false
   },
  "delivery":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "recipients":["jane@example.com"],
     "processingTimeMillis":546,
     "reportingMTA":"a8-70.smtp-out.amazonses.com",
     "smtpResponse":"250 ok:  Message 64111812 accepted",
     "remoteMtaIp":"127.0.2.0"
  }
}"""

SES_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


EXPECTED: dict[str, tuple[str, SesEvent]] = {
    "event bounce": (
        EVENT_BOUNCE,
        SesEvent(
            kind="bounce",
            ses_message_id=SES_ID,
            recipients=("recipient@example.com",),
            permanent=True,
            occurred_at=_at("2017-08-05T00:41:02.669Z"),
            dispatch_outbound_id=None,
            detail={
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                "reportingMTA": "dsn; mta.example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            },
        ),
    ),
    "event complaint": (
        EVENT_COMPLAINT,
        SesEvent(
            kind="complaint",
            ses_message_id=SES_ID,
            recipients=("recipient@example.com",),
            permanent=False,
            occurred_at=_at("2017-08-05T00:41:02.669Z"),
            dispatch_outbound_id=None,
            detail={
                "complaintFeedbackType": "abuse",
                "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
                "userAgent": (
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                    "Gecko) Chrome/60.0.3112.90 Safari/537.36"
                ),
                "arrivalDate": "2017-08-05T00:41:02.669Z",
            },
        ),
    ),
    "event delivery": (
        EVENT_DELIVERY,
        SesEvent(
            kind="delivery",
            ses_message_id=SES_ID,
            recipients=("recipient@example.com",),
            permanent=False,
            occurred_at=_at("2016-10-19T23:21:04.133Z"),
            dispatch_outbound_id=None,
            detail={
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "mta.example.com",
                "processingTimeMillis": "11893",
            },
        ),
    ),
    "event send": (
        EVENT_SEND,
        SesEvent(
            kind="send",
            ses_message_id=SES_ID,
            recipients=("recipient@example.com",),
            permanent=False,
            occurred_at=_at("2016-10-14T05:02:16.645Z"),
            dispatch_outbound_id=None,
            detail={},
        ),
    ),
    "event reject": (
        EVENT_REJECT,
        SesEvent(
            kind="reject",
            ses_message_id=SES_ID,
            recipients=("sender@example.com",),
            permanent=False,
            occurred_at=_at("2016-10-14T17:38:15.211Z"),
            dispatch_outbound_id=None,
            detail={"reason": "Bad content"},
        ),
    ),
    "event delivery delay": (
        EVENT_DELIVERY_DELAY,
        SesEvent(
            kind="delivery_delay",
            ses_message_id=SES_ID,
            recipients=("recipient@example.com",),
            permanent=False,
            occurred_at=_at("2020-06-16T00:25:40.095Z"),
            dispatch_outbound_id=None,
            detail={
                "delayType": "TransientCommunicationFailure",
                "expirationTime": "2020-06-16T00:25:40.914Z",
                "status": "4.4.1",
                "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
            },
        ),
    ),
    "notification bounce with DSN": (
        NOTIFICATION_BOUNCE_WITH_DSN,
        SesEvent(
            kind="bounce",
            ses_message_id="00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
            recipients=("jane@example.com",),
            permanent=True,
            occurred_at=_at("2016-01-27T14:59:38.237Z"),
            dispatch_outbound_id=None,
            detail={
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
                "reportingMTA": "dns; email.example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User",
            },
        ),
    ),
    "notification bounce without DSN": (
        NOTIFICATION_BOUNCE_WITHOUT_DSN,
        SesEvent(
            kind="bounce",
            ses_message_id="00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
            recipients=("jane@example.com", "richard@example.com"),
            permanent=True,
            occurred_at=_at("2016-01-27T14:59:38.237Z"),
            dispatch_outbound_id=None,
            detail={
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": "00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
            },
        ),
    ),
    "notification complaint with feedback": (
        NOTIFICATION_COMPLAINT_WITH_FEEDBACK,
        SesEvent(
            kind="complaint",
            ses_message_id="000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
            recipients=("richard@example.com",),
            permanent=False,
            occurred_at=_at("2016-01-27T14:59:38.237Z"),
            dispatch_outbound_id=None,
            detail={
                "complaintFeedbackType": "abuse",
                "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
                "userAgent": "AnyCompany Feedback Loop (V0.01)",
                "arrivalDate": "2016-01-27T14:59:38.237Z",
            },
        ),
    ),
    "notification complaint without feedback": (
        NOTIFICATION_COMPLAINT_WITHOUT_FEEDBACK,
        SesEvent(
            kind="complaint",
            ses_message_id="0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000",
            recipients=("richard@example.com",),
            permanent=False,
            occurred_at=_at("2016-01-27T14:59:38.237Z"),
            dispatch_outbound_id=None,
            detail={"feedbackId": "0000013786031775-fea503bc-7497-49e1-881b-a0379bb037d3-000000"},
        ),
    ),
    "notification delivery": (
        NOTIFICATION_DELIVERY,
        SesEvent(
            kind="delivery",
            ses_message_id="0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000",
            recipients=("jane@example.com",),
            permanent=False,
            occurred_at=_at("2016-01-27T14:59:38.237Z"),
            dispatch_outbound_id=None,
            detail={
                "smtpResponse": "250 ok:  Message 64111812 accepted",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
                "processingTimeMillis": "546",
            },
        ),
    ),
}
EXAMPLES = {name: text for name, (text, _) in EXPECTED.items()}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_documented_example_reads_as_its_event(name: str) -> None:
    text, expected = EXPECTED[name]
    event = parse_ses_event(text)
    assert event == expected
    assert event is not None and event.detail == expected.detail  # eq covers it; hash does not
    assert event.occurred_at.tzinfo is UTC


IGNORED = {
    "open": EVENT_OPEN,
    "click": EVENT_CLICK,
    "rendering failure": EVENT_RENDERING_FAILURE,
    "subscription": json.dumps(
        {
            "eventType": "Subscription",
            "mail": json.loads(EVENT_SEND)["mail"],
            "subscription": {"contactList": "List", "timestamp": "2022-01-12T01:00:14.340Z"},
        }
    ),
    # What SES posts once when an identity's topic is set up.
    "subscription succeeded": json.dumps(
        {
            "notificationType": "AmazonSnsSubscriptionSucceeded",
            "message": "You have successfully subscribed your Amazon SNS topic ...",
        }
    ),
}


@pytest.mark.parametrize("text", list(IGNORED.values()), ids=list(IGNORED))
def test_events_we_do_not_use_read_as_none(text: str) -> None:
    assert parse_ses_event(text) is None


DROP = object()


def _edit(text: str, **changes: Any) -> str:
    """The example with fields set (DROP: removed); a__b names field b of field a."""
    document = json.loads(text)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
    return json.dumps(document)


def test_our_tag_names_the_outbound_message() -> None:
    tags = json.loads(EVENT_BOUNCE)["mail"]["tags"] | {"dispatch_outbound_id": ["out_01HX"]}
    event = parse_ses_event(_edit(EVENT_BOUNCE, mail__tags=tags))
    assert event is not None and event.dispatch_outbound_id == "out_01HX"


@pytest.mark.parametrize(
    "values", [[], "out_01HX", [1], [None], ["out\n01"], ["x" * 300], [""], {"0": "out"}]
)
def test_a_tag_we_cannot_read_leaves_the_event_without_an_outbound_id(values: object) -> None:
    event = parse_ses_event(_edit(EVENT_DELIVERY, mail__tags={"dispatch_outbound_id": values}))
    assert event is not None and event.dispatch_outbound_id is None


def test_recipients_are_lower_cased_and_each_given_once() -> None:
    recipients = [
        {"emailAddress": "Jane@Example.COM"},
        {"emailAddress": "jane@example.com"},
        {"emailAddress": '"Richard Doe" <Richard@Example.com>'},
        {"emailAddress": "not an address"},
        {"emailAddress": 7},
        {"emailAddress": "nul\x00@example.com"},
        {"emailAddress": "lone\ud800@example.com"},
        "mary@example.com",  # not an object
        {},
    ]
    event = parse_ses_event(_edit(EVENT_BOUNCE, bounce__bouncedRecipients=recipients))
    assert event is not None
    assert event.recipients == ("jane@example.com", "richard@example.com")


def test_recipients_are_bounded() -> None:
    addresses = [f"r{index}@example.com" for index in range(5000)]
    event = parse_ses_event(_edit(EVENT_DELIVERY, delivery__recipients=addresses))
    assert event is not None and event.recipients == tuple(addresses[:MAX_RECIPIENTS])


@pytest.mark.parametrize(
    ("bounce_type", "permanent"),
    [("Permanent", True), ("Transient", False), ("Undetermined", False), ("permanent", False)],
)
def test_only_a_permanent_bounce_is_permanent(bounce_type: str, permanent: bool) -> None:
    event = parse_ses_event(_edit(EVENT_BOUNCE, bounce__bounceType=bounce_type))
    assert event is not None and event.permanent is permanent


@pytest.mark.parametrize(
    "timestamp", [DROP, None, "", "yesterday", 17, "2017-08-05T00:41:02"], ids=repr
)
def test_the_mails_timestamp_stands_in_for_the_events(timestamp: object) -> None:
    event = parse_ses_event(_edit(EVENT_BOUNCE, bounce__timestamp=timestamp))
    assert event is not None and event.occurred_at == _at("2017-08-05T00:40:02.012Z")


def test_detail_is_bounded() -> None:
    recipients = [{"emailAddress": "a@example.com", "diagnosticCode": "x" * 100_000}]
    text = _edit(
        EVENT_BOUNCE, bounce__bouncedRecipients=recipients, bounce__feedbackId="\x00", bounce__x=1
    )
    event = parse_ses_event(text)
    assert event is not None
    assert event.detail["diagnosticCode"] == "x" * MAX_DETAIL_CHARS
    assert "feedbackId" not in event.detail and "x" not in event.detail


MALFORMED = {
    "empty": "",
    "not JSON": "Hello world!",
    "null": "null",
    "array": "[]",
    "string": '"Bounce"',
    "empty object": "{}",
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep unclosed": '{"a":' * 200_000,
    "huge integer": '{"eventType": ' + "9" * 10_000 + "}",
    "NUL": "\x00",
    "too large": _edit(EVENT_BOUNCE, padding="x" * MAX_EVENT_CHARS),
    "eventType unknown": _edit(EVENT_BOUNCE, eventType="Bounced"),
    "eventType lower case": _edit(EVENT_BOUNCE, eventType="bounce"),
    "eventType not a string": _edit(EVENT_BOUNCE, eventType=["Bounce"]),
    "eventType null, notificationType Bounce": _edit(
        EVENT_BOUNCE, eventType=None, notificationType="Bounce"
    ),
    "notificationType Send": _edit(EVENT_SEND, eventType=DROP, notificationType="Send"),
    "no type": _edit(EVENT_BOUNCE, eventType=DROP),
    "no mail": _edit(EVENT_BOUNCE, mail=DROP),
    "mail not an object": _edit(EVENT_BOUNCE, mail=["x"]),
    "no messageId": _edit(EVENT_BOUNCE, mail__messageId=DROP),
    "messageId empty": _edit(EVENT_BOUNCE, mail__messageId=""),
    "messageId a number": _edit(EVENT_BOUNCE, mail__messageId=12),
    "messageId with a line break": _edit(EVENT_BOUNCE, mail__messageId="a\nb"),
    "messageId with NUL": _edit(EVENT_BOUNCE, mail__messageId="a\x00b"),
    "messageId huge": _edit(EVENT_BOUNCE, mail__messageId="a" * 100_000),
    "no bounce": _edit(EVENT_BOUNCE, bounce=DROP),
    "bounce not an object": _edit(EVENT_BOUNCE, bounce="Permanent"),
    "no bounced recipients": _edit(EVENT_BOUNCE, bounce__bouncedRecipients=[]),
    "bounced recipients not a list": _edit(
        EVENT_BOUNCE, bounce__bouncedRecipients={"emailAddress": "a@example.com"}
    ),
    "bounced recipients not addresses": _edit(
        EVENT_BOUNCE, bounce__bouncedRecipients=[{"emailAddress": "nobody"}, None, 3]
    ),
    "no complained recipients": _edit(EVENT_COMPLAINT, complaint__complainedRecipients=DROP),
    "no delivery": _edit(EVENT_DELIVERY, delivery=DROP),
    "delivery recipients objects": _edit(
        EVENT_DELIVERY, delivery__recipients=[{"emailAddress": "a@example.com"}]
    ),
    "no delayed recipients": _edit(EVENT_DELIVERY_DELAY, deliveryDelay__delayedRecipients=[]),
    "send without destination": _edit(EVENT_SEND, mail__destination=DROP),
    "reject destination not a list": _edit(EVENT_REJECT, mail__destination="a@example.com"),
    "no timestamps": _edit(EVENT_BOUNCE, bounce__timestamp=DROP, mail__timestamp=DROP),
    "bad timestamps": _edit(EVENT_SEND, mail__timestamp="2016-13-14T05:02:16Z"),
    "timestamp out of range": _edit(EVENT_SEND, mail__timestamp="0001-01-01T00:00:00+14:00"),
    "lone surrogate": _edit(EVENT_SEND, mail__destination=["\ud800@example.com"]),
}


@pytest.mark.parametrize("text", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_events_read_as_none(text: str) -> None:
    assert parse_ses_event(text) is None


HOSTILE: list[object] = [
    None,
    0,
    -1,
    10**40,
    1.5,
    float("inf"),
    True,
    "",
    "\x00",
    "\ud800",
    "x" * 100_000,
    [],
    [None],
    [[[[]]]],
    {},
    {"emailAddress": None},
]
PATHS = [
    "eventType",
    "mail",
    "mail__messageId",
    "mail__timestamp",
    "mail__destination",
    "mail__destination__0",
    "mail__tags",
    "bounce",
    "bounce__bounceType",
    "bounce__timestamp",
    "bounce__bouncedRecipients",
    "bounce__bouncedRecipients__0",
    "bounce__bouncedRecipients__0__emailAddress",
    "bounce__bouncedRecipients__0__diagnosticCode",
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("path", PATHS)
def test_hostile_values_anywhere_never_raise(path: str, value: object) -> None:
    document = json.loads(EVENT_BOUNCE)
    *parents, last = path.split("__")
    target: Any = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[int(last) if isinstance(target, list) else last] = value
    text = json.dumps(document)  # inf becomes Infinity, which json.loads reads
    _check_event(parse_ses_event(text))


def _check_event(event: SesEvent | None) -> None:
    """What a parsed event always is, whatever it came from."""
    if event is None:
        return
    assert event.kind in {"send", "delivery", "bounce", "complaint", "reject", "delivery_delay"}
    assert event.ses_message_id and event.ses_message_id.isprintable()
    assert event.recipients
    for address in event.recipients:
        assert address == address.lower() and "@" in address and address.isprintable()
        address.encode()
    assert event.occurred_at.tzinfo is UTC
    for name, value in event.detail.items():
        assert len(value) <= MAX_DETAIL_CHARS and "\x00" not in value, name
        value.encode()


def test_mutated_examples_never_raise() -> None:
    """Random damage to every example (a seeded fuzz): an event or None, never an error."""
    rng = random.Random(20260602)
    originals = [*EXAMPLES.values(), *IGNORED.values()]
    inserts = ["\x00", "\\u0000", "\\ud800", '"', "\\", "[", "{", "}", ",", "9" * 30, "é", "\n"]
    parsed = 0
    for _ in range(4000):
        text = list(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            action = rng.randrange(3)
            if action == 0:
                text[at:at] = rng.choice(inserts)
            elif action == 1:
                del text[at : at + rng.randint(1, 12)]
            else:
                text = text[:at]
        event = parse_ses_event("".join(text))
        _check_event(event)
        parsed += event is not None
    assert parsed > 0
