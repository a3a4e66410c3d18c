msFilterList
# Title: trackguard built-in tracker list
# Licence: MPL-2.0 (written for trackguard; not derived from EasyList or other lists)
# Description: Well-known third-party tracking, analytics and advertising hosts
#
# Shipped with trackguard so that protection works on a machine that has never
# downloaded a list.
: Expires=30
#
# How to read this file (TPL spec, part A):
# - "-d host" blocks third-party requests to any host that contains these labels,
#   e.g. "-d doubleclick.net" also blocks "stats.g.doubleclick.net".
# - "-d host /path" blocks only requests to that host whose address contains the path.
# - TPL rules never apply to first-party requests, so visiting a site directly (or a
#   site using its own analytics) is never blocked by this list.
# - Only hosts whose main purpose is tracking or ad delivery are listed. Content
#   delivery networks, fonts, maps, video players, logins and payments are not.
# This list can be turned off with `trackguard lists disable builtin`.
#
#==================== Google ====================
#
# Google Analytics page-view and event collection (analytics.js, ga.js, gtag.js hits)
-d google-analytics.com
# Google Analytics 4 collection endpoint (region1.analytics.google.com/g/collect)
-d analytics.google.com
# Google Tag Manager and gtag.js loader: injects analytics and ad tags into pages
-d googletagmanager.com
# Google Publisher Tag (GPT) ad loader for Google Ad Manager
-d googletagservices.com
# DoubleClick / Google Marketing Platform: ad serving, retargeting, conversion tracking
-d doubleclick.net
# Google AdSense and Ad Manager ad delivery (pagead2.googlesyndication.com, tpc.)
-d googlesyndication.com
# Google Ads conversion tracking and remarketing (googleadservices.com/pagead/conversion)
-d googleadservices.com
# DoubleClick rich-media ad creatives (s0.2mdn.net)
-d 2mdn.net
# Google ad traffic-quality and invalid-click measurement (ep1.adtrafficquality.google)
-d adtrafficquality.google
# Google Ads remarketing lists and conversion pings on google.com and its country domains
-d google.com /pagead/
# Google Analytics audiences for Google Ads remarketing (google.com/ads/ga-audiences)
-d google.com /ads/ga-audiences
# Google Optimize A/B-testing and personalisation tag (discontinued, still embedded)
-d googleoptimize.com
# Firebase / Google Analytics for apps measurement endpoint
-d app-measurement.com
# Google Ads on mobile and in apps (admob)
-d admob.com
#
#==================== Meta (Facebook, Instagram) ====================
#
# Meta Pixel and Facebook SDK loader (connect.facebook.net/en_US/fbevents.js)
-d connect.facebook.net
# Meta Pixel hits on facebook.com (facebook.com/tr?id=...&ev=PageView)
-d facebook.com /tr?
# Meta Pixel hits, alternative path (facebook.com/tr/?id=...)
-d facebook.com /tr/
# Meta Pixel image host
-d pixel.facebook.com
# Meta Audience Network ads
-d an.facebook.com
#
#==================== Microsoft ====================
#
# Microsoft Advertising (Bing Ads) Universal Event Tracking tag (bat.bing.com/bat.js)
-d bat.bing.com
# Microsoft Clarity session recording and heatmaps
-d clarity.ms
# Xandr (formerly AppNexus) ad exchange and user sync, owned by Microsoft
-d adnxs.com
# Xandr ad exchange, cookie-less variant
-d adnxs-simple.com
# LinkedIn Insight Tag beacons (px.ads.linkedin.com/collect)
-d px.ads.linkedin.com
# LinkedIn Insight Tag loader (snap.licdn.com/li.lms-analytics/insight.min.js)
-d snap.licdn.com /li.lms-analytics/
# LinkedIn ad conversion domain
-d dc.ads.linkedin.com
#
#==================== X (Twitter), Reddit, Pinterest, Snap, TikTok and other social ads ====================
#
# X / Twitter conversion tracking pixel loader (static.ads-twitter.com/uwt.js)
-d ads-twitter.com
# X / Twitter conversion and analytics endpoint
-d analytics.twitter.com
# X / Twitter ad conversion pixel on its link shortener (t.co/i/adsct)
-d t.co /i/adsct
# X / Twitter ad pixel on its ads API (ads-api.twitter.com)
-d ads-api.twitter.com
# Reddit Pixel conversion endpoint (alb.reddit.com/rp.gif)
-d alb.reddit.com
# Reddit Pixel loader (redditstatic.com/ads/pixel.js)
-d redditstatic.com /ads/
# Pinterest Tag conversion endpoint (ct.pinterest.com/v3/)
-d ct.pinterest.com
# Pinterest Tag loader (s.pinimg.com/ct/core.js)
-d s.pinimg.com /ct/
# Snap Pixel endpoint (tr.snapchat.com)
-d tr.snapchat.com
# Snap Pixel loader (sc-static.net/scevent.min.js)
-d sc-static.net /scevent.min.js
# TikTok Pixel loader and events (analytics.tiktok.com/i18n/pixel/events.js)
-d analytics.tiktok.com
# TikTok Pixel events, Singapore region
-d analytics-sg.tiktok.com
# TikTok Events API used by the browser pixel (business-api.tiktok.com/open_api/.../pixel/)
-d business-api.tiktok.com /pixel/
# Quora Pixel events (q.quora.com)
-d q.quora.com
# Quora Pixel loader (a.quora.com/qevents.js)
-d a.quora.com /qevents.js
# VK (VKontakte) retargeting pixel (vk.com/rtrg)
-d vk.com /rtrg
# AddThis share buttons with cross-site tracking (service closed, tags remain)
-d addthis.com
# AddThis content and tracking CDN
-d addthisedge.com
# ShareThis share buttons and audience data collection
-d sharethis.com
# AddToAny share buttons (collects page views for analytics)
-d static.addtoany.com
#
#==================== Amazon, Yahoo, Oracle, Adobe, Salesforce ====================
#
# Amazon Advertising: Amazon Publisher Services header bidding and ad pixels
-d amazon-adsystem.com
# Amazon Associates affiliate ad widgets and tracking
-d assoc-amazon.com
# Yahoo (formerly Verizon Media) analytics and Dot conversion pixel (sp.analytics.yahoo.com)
-d analytics.yahoo.com
# Yahoo advertising ad serving
-d ads.yahoo.com
# Yahoo DSP (formerly AOL / ONE by AOL) ad serving and user sync
-d advertising.com
# Yahoo Japan tag manager and ad conversion tags
-d yjtag.jp
# Oracle BlueKai data management platform: audience profiling and user sync
-d bluekai.com
# Oracle BlueKai tag
-d bkrtx.com
# Oracle Moat ad viewability and attention measurement
-d moatads.com
# Oracle Moat pixel host
-d moatpixel.com
# Oracle Eloqua marketing automation tracking (sNNN.t.eloqua.com)
-d t.eloqua.com
# Oracle Eloqua tracking images (img.en25.com)
-d en25.com
# Adobe Analytics (Omniture SiteCatalyst) collection on Adobe-owned hosts
-d omtrdc.net
# Adobe Analytics (Omniture) legacy collection domain
-d 2o7.net
# Adobe Audience Manager (Demdex) identity sync and audience profiling
-d demdex.net
# Adobe Advertising Cloud (formerly Efficient Frontier) conversion tracking
-d everesttech.net
# Adobe Experience Platform Launch / Dynamic Tag Management tag loader
-d adobedtm.com
# Salesforce Audience Studio (formerly Krux) data management platform
-d krxd.net
# Salesforce Marketing Cloud / Pardot visitor tracking (pi.pardot.com)
-d pi.pardot.com
# Salesforce Marketing Cloud Personalization (formerly Evergage) tracking
-d evergage.com
# Marketo Munchkin visitor tracking script (munchkin.marketo.net)
-d munchkin.marketo.net
# Marketo Munchkin beacons (NNN-XXX-NNN.mktoresp.com)
-d mktoresp.com
# HubSpot analytics tracking code
-d hs-analytics.net
# HubSpot ad conversion pixel
-d hsadspixel.net
# HubSpot visitor tracking endpoint (track.hubspot.com/__ptq.gif)
-d track.hubspot.com
#
#==================== Analytics, session replay and A/B testing ====================
#
# Hotjar heatmaps, session recording and surveys
-d hotjar.com
# Hotjar content and recording endpoints
-d hotjar.io
# Mixpanel product analytics
-d mixpanel.com
# Mixpanel JavaScript library CDN (cdn.mxpnl.com)
-d mxpnl.com
# Segment customer data platform: collects events and forwards them to other trackers
-d segment.io
# Segment analytics.js loader (cdn.segment.com)
-d cdn.segment.com
# Segment event API (api.segment.com)
-d api.segment.com
# Amplitude product analytics
-d amplitude.com
# Heap product analytics (autocapture of every click)
-d heapanalytics.com
# FullStory session recording
-d fullstory.com
# Mouseflow session recording and heatmaps
-d mouseflow.com
# Crazy Egg heatmaps and recordings
-d crazyegg.com
# Crazy Egg script CDN
-d cetrk.com
# Lucky Orange session recording
-d luckyorange.com
# Lucky Orange recording endpoints
-d luckyorange.net
# Inspectlet session recording
-d inspectlet.com
# Smartlook session recording (rec.smartlook.com)
-d smartlook.com
# LogRocket session replay script CDN
-d logrocket.io
# LogRocket session replay ingestion
-d lr-ingest.io
# Contentsquare experience analytics (t.contentsquare.net)
-d contentsquare.net
# Contentsquare legacy ClickTale session recording
-d clicktale.net
# Decibel (Medallia) digital experience analytics
-d decibelinsight.net
# Quantum Metric session replay and analytics
-d quantummetric.com
# SessionCam session recording
-d sessioncam.com
# Kissmetrics person-based analytics
-d kissmetrics.com
# Kissmetrics analytics endpoints
-d kissmetrics.io
# Woopra customer journey analytics
-d woopra.com
# Clicky web analytics (static.getclicky.com, in.getclicky.com)
-d getclicky.com
# StatCounter web statistics
-d statcounter.com
# Histats web statistics counter
-d histats.com
# WordPress.com (Jetpack) site statistics beacon (stats.wp.com)
-d stats.wp.com
# WordPress.com (Jetpack) statistics pixel
-d pixel.wp.com
# Matomo Cloud hosted analytics (self-hosted Matomo is first-party and unaffected)
-d matomo.cloud
# Piwik PRO hosted analytics and tag manager
-d piwik.pro
# PostHog cloud product analytics ingestion (us.i.posthog.com, eu.i.posthog.com)
-d i.posthog.com
# Cloudflare Web Analytics beacon (static.cloudflareinsights.com/beacon.min.js)
-d cloudflareinsights.com
# New Relic browser agent loader (js-agent.newrelic.com)
-d js-agent.newrelic.com
# New Relic browser agent beacons (bam.nr-data.net)
-d nr-data.net
# Datadog Real User Monitoring script CDN
-d datadoghq-browser-agent.com
# Datadog Real User Monitoring intake (browser-intake-datadoghq.com)
-d browser-intake-datadoghq.com
# Datadog Real User Monitoring intake, EU site
-d browser-intake-datadoghq.eu
# Akamai mPulse real user monitoring (boomerang beacons)
-d go-mpulse.net
# Siteimprove analytics
-d siteimproveanalytics.com
# Siteimprove analytics endpoint
-d siteimproveanalytics.io
# Chartbeat real-time audience analytics for publishers
-d chartbeat.com
# Chartbeat beacons and script CDN
-d chartbeat.net
# Parse.ly content analytics for publishers
-d parsely.com
# Optimizely experimentation event logging (logx.optimizely.com)
-d logx.optimizely.com
# VWO (Visual Website Optimizer) A/B testing and heatmaps
-d visualwebsiteoptimizer.com
# AB Tasty experimentation data collection (ariane.abtasty.com)
-d ariane.abtasty.com
# Dynamic Yield personalisation and behavioural tracking
-d dynamicyield.com
# Monetate personalisation and behavioural tracking
-d monetate.net
# Bounce Exchange / Wunderkind behavioural retargeting
-d bounceexchange.com
# Wunderkind (Bounce Exchange) tracking endpoints
-d bouncex.net
# Tealium iQ tag manager CDN (tags.tiqcdn.com)
-d tiqcdn.com
# Tealium data collection (collect.tealiumiq.com)
-d tealiumiq.com
# Ensighten tag manager
-d ensighten.com
# Commanders Act (TagCommander) tag manager
-d tagcommander.com
# Commanders Act (TagCommander) tag hosting
-d commander1.com
# Webtrends web analytics (legacy)
-d webtrends.com
# Webtrends hosted collection (statse.webtrendslive.com)
-d webtrendslive.com
# IBM / Acoustic Coremetrics analytics (legacy)
-d coremetrics.com
# Alexa Certified Metrics (service closed; tags remain on old pages)
-d alexametrics.com
# FingerprintJS Pro browser fingerprinting API
-d fpjs.io
# FingerprintJS Pro script CDN
-d fpnpmcdn.net
# FingerprintJS open-source agent CDN
-d openfpcdn.io
#
#==================== Audience measurement ====================
#
# comScore audience measurement (sb.scorecardresearch.com beacon)
-d scorecardresearch.com
# comScore measurement and panel domain
-d comscore.com
# comScore VoiceFive panel tracking
-d voicefive.com
# Quantcast Measure audience tracking tag (pixel.quantserve.com)
-d quantserve.com
# Quantcast measurement endpoint
-d quantcount.com
# Nielsen Digital Content Ratings and Online Campaign Ratings (secure-*.imrworldwide.com)
-d imrworldwide.com
# Nielsen eXelate data exchange and audience segments
-d exelator.com
# Gemius audience measurement (Central and Eastern Europe)
-d gemius.pl
# AT Internet / Piano Analytics (xiti) collection
-d xiti.com
# INFOnline IVW audience measurement (Germany)
-d ioam.de
# INFOnline IVW measurement box
-d ivwbox.de
# Kantar / TNS audience counter (Russia and CIS)
-d tns-counter.ru
# Yandex Metrica analytics and Webvisor session recording (mc.yandex.ru/metrika/tag.js)
-d mc.yandex.ru
# Yandex Metrica, international domain
-d mc.yandex.com
# Yandex Metrica, Belarus domain
-d mc.yandex.by
# Yandex Metrica, Ukraine domain
-d mc.yandex.ua
# Yandex Metrica, Turkey domain
-d mc.yandex.com.tr
# Yandex Metrica Webvisor recording host
-d mc.webvisor.org
# Yandex Metrica alternative domain
-d yandexmetrica.com
# Yandex advertising network (an.yandex.ru)
-d an.yandex.ru
# Yandex ad exchange
-d yandexadexchange.net
# Top.Mail.Ru counter (VK Group analytics)
-d top-fwz1.mail.ru
# Top.Mail.Ru counter, main host
-d top.mail.ru
# LiveInternet counter (counter.yadro.ru)
-d counter.yadro.ru
# Baidu Tongji web analytics (hm.baidu.com/hm.js)
-d hm.baidu.com
# Baidu ad network ad serving
-d pos.baidu.com
# Baidu Union ad scripts (cpro.baidustatic.com)
-d cpro.baidustatic.com
# CNZZ / Umeng web analytics (China)
-d cnzz.com
# Umeng analytics (Alibaba)
-d umeng.com
# Alibaba advertising (Tanx) ad exchange
-d tanx.com
# Alibaba user-behaviour analytics (mmstat)
-d mmstat.com
# Tencent web analytics (pingjs.qq.com)
-d pingjs.qq.com
# Naver Analytics (wcs.naver.net)
-d wcs.naver.net
# Treasure Data customer data platform ingestion (in.treasuredata.com)
-d in.treasuredata.com
#
#==================== Identity, data brokers and data management platforms ====================
#
# LiveRamp identity graph and cookie matching (idsync.rlcdn.com)
-d rlcdn.com
# LiveRamp (formerly Arbor / Pippio) identity sync
-d pippio.com
# The Trade Desk Unified ID 2.0 identity API
-d uidapi.com
# Tapad cross-device identity graph
-d tapad.com
# LiveIntent identity and email-based ad targeting
-d liadm.com
# ID5 shared identity for advertising
-d id5-sync.com
# Intent IQ identity resolution
-d intentiq.com
# Lotame data management platform (crwdcntrl.net)
-d crwdcntrl.net
# Neustar / TransUnion AdAdvisor identity and audience data
-d agkn.com
# Eyeota audience data marketplace
-d eyeota.net
# Zeotap customer identity and audience data
-d zeotap.com
# Permutive audience data platform for publishers
-d permutive.com
# Audigent audience data (ad.gt)
-d ad.gt
# OnAudience data management platform
-d onaudience.com
# Semasio semantic audience targeting
-d semasio.net
# Bombora B2B intent data (ml314.com)
-d ml314.com
# Demandbase B2B account identification (company-target.com)
-d company-target.com
# Dstillery (formerly Media6Degrees) audience modelling
-d media6degrees.com
# Acxiom / KBM Group data
-d ib-ibi.com
# Merkle (Dentsu) identity and audience data (rkdms.com)
-d rkdms.com
# Zeta Global (formerly Rocket Fuel) data and ad platform
-d rfihub.com
# Zeta Global identity sync
-d rezync.com
# Amobee (formerly Turn) data management and DSP
-d turn.com
# Valassis Digital audience data (mxptint.net)
-d mxptint.net
# Almondnet (Pro-Market) audience data exchange
-d pro-market.net
# Oracle Datalogix purchase-based audience data (nexac.com)
-d nexac.com
#
#==================== Ad exchanges, SSPs and DSPs ====================
#
# The Trade Desk demand-side platform: bidding and user sync (adsrvr.org)
-d adsrvr.org
# Magnite (formerly Rubicon Project) supply-side platform
-d rubiconproject.com
# PubMatic supply-side platform
-d pubmatic.com
# Index Exchange ad exchange (casalemedia.com)
-d casalemedia.com
# Index Exchange ad exchange, second domain
-d indexww.com
# OpenX ad exchange
-d openx.net
# OpenX ad serving
-d servedbyopenx.com
# Criteo retargeting ads
-d criteo.com
# Criteo retargeting static and sync domain
-d criteo.net
# RTB House retargeting ads (creativecdn.com)
-d creativecdn.com
# TripleLift native ad exchange
-d 3lift.com
# Sharethrough native ad exchange
-d sharethrough.com
# Sovrn (formerly Lijit) publisher ad exchange
-d lijit.com
# Smart AdServer (Equativ) ad serving
-d smartadserver.com
# Improve Digital (360yield) ad exchange
-d 360yield.com
# Adform demand and supply platform
-d adform.net
# Adform ad serving CDN
-d adformdsp.net
# Yieldmo mobile ad exchange
-d yieldmo.com
# Sonobi ad exchange
-d sonobi.com
# GumGum contextual advertising
-d gumgum.com
# Kargo mobile advertising
-d kargo.com
# Teads outstream video advertising
-d teads.tv
# Seedtag contextual advertising
-d seedtag.com
# Smaato mobile ad exchange
-d smaato.net
# 33Across ad exchange and attention measurement
-d 33across.com
# 33Across (formerly Tynt) copy-paste tracking and ads
-d tynt.com
# OneTag ad exchange
-d onetag-sys.com
# Media.net contextual ads (Yahoo/Bing network)
-d media.net
# PulsePoint (Contextweb) ad exchange
-d contextweb.com
# Bidswitch (IPONWEB) ad exchange connector
-d bidswitch.net
# IPONWEB / MediaFuse ad serving
-d mfadsrvr.com
# Beeswax (Comcast) demand-side platform (bidr.io)
-d bidr.io
# MediaMath demand-side platform
-d mathtag.com
# StackAdapt programmatic advertising
-d stackadapt.com
# Simpli.fi programmatic advertising
-d simpli.fi
# Basis (Centro) demand-side platform (sitescout.com)
-d sitescout.com
# Adelphic (Viant) demand-side platform
-d ipredictive.com
# Conversant (Epsilon) ad serving
-d dotomi.com
# Conversant (Epsilon) legacy ad serving
-d fastclick.net
# Roku (formerly DataXu) demand-side platform
-d w55c.net
# DeepIntent healthcare advertising
-d deepintent.com
# RhythmOne / Unruly ad exchange
-d 1rx.io
# Unruly video advertising
-d unrulymedia.com
# Nativo native advertising (postrelease.com)
-d postrelease.com
# AdRoll retargeting
-d adroll.com
# AdTheorent machine-learning advertising
-d adentifi.com
# Undertone rich-media advertising
-d undertone.com
# Exponential (Tribal Fusion) ad network
-d tribalfusion.com
# Telaria / Magnite CTV video ad exchange (tremorhub.com)
-d tremorhub.com
# FreeWheel video advertising (stickyadstv.com)
-d stickyadstv.com
# FreeWheel video ad serving (mssl.fwmrm.net)
-d fwmrm.net
# SpotX video ad platform
-d spotxchange.com
# SpotX video ad CDN
-d spotx.tv
# SpringServe video ad serving
-d springserve.com
# Innovid connected-TV and video ad serving
-d innovid.com
# Flashtalking (Mediaocean) ad serving and measurement
-d flashtalking.com
# Sizmek (Amazon) ad serving (serving-sys.com)
-d serving-sys.com
# JW Player analytics beacons (jwpltx.com); the player itself is not blocked
-d jwpltx.com
# Mediavine publisher ad management
-d mediavine.com
# AdThrive (Raptive) publisher ad management
-d adthrive.com
# Admixer ad exchange
-d admixer.net
# AdRiver ad serving (Russia)
-d adriver.ru
# Yieldlab (Ströer) supply-side platform
-d yieldlab.net
# Adition ad serving (Germany)
-d adition.com
# Ströer adscale supply-side platform
-d adscale.de
# The ADEX data exchange (Germany)
-d theadex.com
# Microad (Japan) ad platform
-d microad.jp
# Supership / ScaleOut ad platform (Japan)
-d socdm.com
# i-mobile ad network (Japan)
-d i-mobile.co.jp
# Logicad (Sony) demand-side platform (Japan)
-d ladsp.com
# fluct supply-side platform (Japan)
-d adingo.jp
# Crimtan programmatic advertising
-d ctnsnet.com
# AcuityAds programmatic advertising
-d acuityplatform.com
# Appier AI advertising (Asia)
-d appier.net
# Blis location-based advertising
-d blismedia.com
# Bidtellect native advertising
-d bttrack.com
# MediaMath / WPP (mookie1.com) ad serving
-d mookie1.com
# AdGear (Samsung Ads) ad serving
-d adgrx.com
# Beachfront video advertising
-d bfmio.com
# Adagio video advertising (4dex.io)
-d 4dex.io
# Ogury mobile advertising
-d presage.io
#
#==================== Ad verification ====================
#
# Integral Ad Science ad verification (pixel.adsafeprotected.com)
-d adsafeprotected.com
# Integral Ad Science measurement scripts
-d iasds01.com
# DoubleVerify ad verification and measurement
-d doubleverify.com
#
#==================== Content recommendation and native ads ====================
#
# Taboola sponsored-content widgets and tracking
-d taboola.com
# Taboola syndication domain
-d taboolasyndication.com
# Outbrain sponsored-content widgets and tracking
-d outbrain.com
# Outbrain image CDN for sponsored content
-d outbrainimg.com
# Outbrain (Zemanta) demand-side platform
-d zemanta.com
# Revcontent sponsored content
-d revcontent.com
# MGID native advertising
-d mgid.com
# Adskeeper (MGID) native advertising
-d adskeeper.com
# ZergNet sponsored links
-d zergnet.com
# Plista content recommendation and ads
-d plista.com
# Ligatus native advertising
-d ligatus.com
# popIn content recommendation (Baidu)
-d popin.cc
#
#==================== Affiliate tracking ====================
#
# Awin affiliate MasterTag tracking (dwin1.com)
-d dwin1.com
# CJ Affiliate (Commission Junction) tracking (emjcd.com)
-d emjcd.com
# Skimlinks automatic affiliate link tracking
-d skimresources.com
# Skimlinks affiliate tracking
-d skimlinks.com
# Sovrn //Commerce (formerly VigLink) affiliate link tracking
-d viglink.com
#
#==================== Pop-under and aggressive ad networks ====================
#
# PopAds pop-under ads
-d popads.net
# PopCash pop-under ads
-d popcash.net
# ExoClick ad network
-d exoclick.com
# ExoClick ad serving
-d exosrv.com
# JuicyAds ad network
-d juicyads.com
# TrafficJunky ad network
-d trafficjunky.net
# Adcash ad network
-d adcash.com
# Zedo ad serving (legacy)
-d zedo.com
